import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionJson } from '../../src/http/session-json.js';
import { branchFor } from '../../src/model/session.js';
import { DASHBOARD_CSP } from '../../src/server/dashboard-handler.js';
import { packageRoot } from '../../src/server/package-root.js';
import { setupGitHubMock } from '../helpers/github-mock.js';
import { openSse } from '../helpers/sse-client.js';
import { startTestApp, type StartedTestApp } from '../helpers/test-app.js';

const TOKEN = 'dashboard-app-token';

describe('the dashboard routes of a whole TeleCoder app (no GitHub App: setup mode)', () => {
  setupGitHubMock();
  let started: StartedTestApp;
  const auth = { authorization: `Bearer ${TOKEN}` };

  beforeAll(async () => {
    started = await startTestApp({
      image: 'unused-image',
      llmUrl: 'http://127.0.0.1:9',
      provider: 'anthropic',
      env: { TELECODER_API_TOKEN: TOKEN, TELECODER_MAX_TOKENS: '500000', TELECODER_MAX_COST_USD: '2.5' },
    });
  });

  afterAll(async () => {
    await started?.stop();
  });

  const addSession = (id: string, repo: string) => {
    const { store, bus } = started.app;
    store.createSession({ id, repo, prompt: `work on ${repo}`, mode: 'task', branch: branchFor(id), agent: 'builtin', model: null, origin: { kind: 'api' } });
    bus.publish(store.appendEvent(id, 'status', 'pending'));
  };

  it('gives / to the dashboard instead of redirecting to the setup pages, without the token', async () => {
    const answer = await fetch(`${started.url}/`, { redirect: 'manual' });
    expect(answer.status).not.toBe(302);
    expect(answer.headers.get('content-security-policy')).toBe(DASHBOARD_CSP);
    // Built or not, it is the dashboard's answer: index.html, or the page saying how to build it.
    expect([200, 503]).toContain(answer.status);
    if (answer.status === 503) expect(await answer.text()).toContain('npm run build');
    else expect(await answer.text()).toBe(readFileSync(join(packageRoot(), 'dist', 'web', 'index.html'), 'utf8'));
  });

  it('says what the dashboard needs in /api/info, behind the token', async () => {
    expect((await fetch(`${started.url}/api/info`)).status).toBe(401);
    addSession('aaaa0001', 'acme/older');
    addSession('aaaa0002', 'acme/widgets');
    addSession('aaaa0003', 'acme/older');
    const answer = await fetch(`${started.url}/api/info`, { headers: auth });
    expect(answer.status).toBe(200);
    const { version } = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
    expect(await answer.json()).toEqual({
      version,
      github_app: { configured: false, setup_url: '/probot' },
      budget: { max_tokens: 500000, max_cost_usd: 2.5 },
      recent_repos: ['acme/older', 'acme/widgets'],
    });
  });

  it('streams the sessions from the app\'s own event bus', async () => {
    const client = await openSse(`${started.url}/api/sessions/stream`, auth);
    try {
      expect(client.status).toBe(200);
      await client.waitFor(() => client.messages.length >= 1);
      expect(client.messages[0]!.event).toBe('snapshot');
      addSession('bbbb0001', 'acme/live');
      await client.waitFor(() => client.messages.some((m) => m.event === 'session'));
      const live = JSON.parse(client.messages.find((m) => m.event === 'session')!.data) as SessionJson;
      expect(live).toMatchObject({ id: 'bbbb0001', repo: 'acme/live', status: 'pending', origin: { kind: 'api' } });
    } finally {
      client.close();
    }
  });
});
