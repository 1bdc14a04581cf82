import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupGitHubMock } from '../helpers/github-mock.js';
import { startTestApp, type StartedTestApp } from '../helpers/test-app.js';

/** The manifest Probot's setup page posts to GitHub, from the form on the page. */
function manifestFrom(html: string): Record<string, unknown> {
  const match = /name="manifest"[^>]*value='([^']*)'|value='([^']*)'[^>]*name="manifest"/.exec(html) ?? /id="manifest"[^>]*value='([^']*)'/.exec(html);
  const raw = match?.[1] ?? match?.[2];
  if (!raw) throw new Error(`no manifest field in the setup page:\n${html.slice(0, 2000)}`);
  return JSON.parse(raw.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&')) as Record<string, unknown>;
}

describe('without GitHub App keys: Probot setup mode beside the API', () => {
  setupGitHubMock();
  let started: StartedTestApp;

  beforeAll(async () => {
    started = await startTestApp({ image: 'unused-image', llmUrl: 'http://127.0.0.1:9', provider: 'anthropic' });
  });

  afterAll(async () => {
    await started?.stop();
  });

  it('serves the setup page with the manifest built from app.yml', async () => {
    const response = await fetch(`${started.url}/probot`);
    expect(response.status).toBe(200);
    const manifest = manifestFrom(await response.text());
    // What app.yml says (Probot reads it from the working directory, the package root here).
    expect(manifest).toMatchObject({
      name: 'TeleCoder',
      public: false,
      default_events: ['issues', 'issue_comment', 'pull_request', 'pull_request_review', 'pull_request_review_comment', 'push'],
      default_permissions: { metadata: 'read', contents: 'write', issues: 'write', pull_requests: 'write' },
      redirect_url: `${started.url}/probot/setup`,
    });
    expect(manifest.default_permissions).not.toHaveProperty('workflows');
    // GitHub cannot reach a loopback server: app.yml's placeholder hook must never receive deliveries.
    expect(manifest.hook_attributes).toMatchObject({ active: false });
    expect(started.app.githubReporter).toBeUndefined();
  });

  it('keeps /health and the API working', async () => {
    const health = await fetch(`${started.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const sessions = await fetch(`${started.url}/api/sessions`);
    expect(sessions.status).toBe(200);
    expect(await sessions.json()).toEqual([]);
  });
});

/** Every string in the manifest that is an http(s) URL, with the key path it sits at. */
function urlsIn(value: unknown, at = ''): Array<[string, string]> {
  if (typeof value === 'string') return /^https?:\/\//.test(value) ? [[at, value]] : [];
  if (Array.isArray(value)) return value.flatMap((item, index) => urlsIn(item, `${at}[${index}]`));
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([key, item]) => urlsIn(item, at ? `${at}.${key}` : key));
  return [];
}

describe('behind a reverse proxy: TELECODER_PUBLIC_URL addresses the App', () => {
  setupGitHubMock();
  const PUBLIC_URL = 'https://telecoder.example.org';
  const TOKEN = 'public-url-test-token-0123456789abcdef';
  const bearer = { authorization: `Bearer ${TOKEN}` };
  let started: StartedTestApp;

  beforeAll(async () => {
    started = await startTestApp({
      image: 'unused-image',
      llmUrl: 'http://127.0.0.1:9',
      provider: 'anthropic',
      env: { TELECODER_PUBLIC_URL: PUBLIC_URL, TELECODER_API_TOKEN: TOKEN },
    });
  });

  afterAll(async () => {
    await started?.stop();
  });

  it('puts only the public URL in the manifest: webhook, redirect, nothing on loopback or example.com', async () => {
    const response = await fetch(`${started.url}/probot`, { headers: bearer });
    expect(response.status).toBe(200);
    const manifest = manifestFrom(await response.text());
    expect(manifest).toMatchObject({
      hook_attributes: { url: `${PUBLIC_URL}/api/github/webhooks`, active: true },
      redirect_url: `${PUBLIC_URL}/probot/setup`,
    });
    // The App's homepage (app.yml's `url`) is the project's page; every other address is ours.
    const addresses = urlsIn(manifest).filter(([at]) => at !== 'url');
    expect(addresses.length).toBeGreaterThanOrEqual(2);
    expect(addresses.filter(([, url]) => !url.startsWith(`${PUBLIC_URL}/`))).toEqual([]);
  });

  it('hands out setup links on the public URL', async () => {
    const response = await fetch(`${started.url}/probot/link`, { method: 'POST', headers: bearer });
    expect(response.status).toBe(201);
    const { url } = (await response.json()) as { url: string };
    expect(url).toMatch(new RegExp(`^${PUBLIC_URL}/probot\\?ticket=`));
  });
});
