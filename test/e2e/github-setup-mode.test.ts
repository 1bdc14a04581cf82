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
      default_events: ['issues', 'issue_comment', 'pull_request', 'pull_request_review', 'pull_request_review_comment'],
      default_permissions: { metadata: 'read', contents: 'write', issues: 'write', pull_requests: 'write' },
      redirect_url: `${started.url}/probot/setup`,
    });
    expect(manifest.default_permissions).not.toHaveProperty('workflows');
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
