/**
 * TELECODER_ALLOW_LOCAL_REPOS through the real server: the engine's own check (config, provider
 * choice) decides, not a stand-in for it. A refused request stores nothing and starts nothing.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { useAppHarness } from '../helpers/app-harness.js';
import { waitForFinal } from '../helpers/test-app.js';

const API_TOKEN = 'local-repos-test-token';

describe('local repositories are refused with 403 when TELECODER_ALLOW_LOCAL_REPOS is off', () => {
  const harness = useAppHarness('local-repos');
  let repo: string;

  async function start(env: Record<string, string>) {
    repo = harness.localRepo({ 'README.md': '# Project\n' });
    const started = await harness.start({ script: [{ toolCalls: [{ name: 'finish', arguments: { summary: 'nothing to do' } }] }], env });
    // Whatever address it listens on, the test reaches it on loopback.
    return `http://127.0.0.1:${new URL(started.url).port}`;
  }

  async function submit(url: string, repoArgument: string, token?: string) {
    const response = await fetch(`${url}/api/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ repo: repoArgument, prompt: 'look around' }),
    });
    return { status: response.status, body: (await response.json()) as { id?: string; error?: string } };
  }

  function containersOfInstance(): string {
    const sessions = harness.app.store.listSessions().map((session) => session.id);
    return sessions
      .map((id) => execFileSync('docker', ['ps', '-aq', '--filter', `label=telecoder.session=${id}`], { encoding: 'utf8' }).trim())
      .join('');
  }

  it('TELECODER_ALLOW_LOCAL_REPOS=false: a path and a file:// URL get 403 with how to fix it; nothing is stored or started', async () => {
    const url = await start({ TELECODER_ALLOW_LOCAL_REPOS: 'false' });
    for (const form of [repo, `file://${repo}`]) {
      const refused = await submit(url, form);
      expect(refused.status, form).toBe(403);
      expect(refused.body.error).toMatch(/local repositories are disabled on this server \(TELECODER_ALLOW_LOCAL_REPOS=false\)/);
      expect(refused.body.error).toMatch(/owner\/name/);
    }
    expect(harness.app.store.listSessions()).toHaveLength(0);
    expect(harness.llm.requests).toHaveLength(0);
    expect((await fetch(`${url}/api/sessions`)).status).toBe(200);
  });

  it('listening beyond loopback, local repositories are off by default (403)', async () => {
    const url = await start({ TELECODER_ADDR: '0.0.0.0:0', TELECODER_API_TOKEN: API_TOKEN });
    expect(harness.app.config.allowLocalRepos).toBe(false);
    const refused = await submit(url, repo, API_TOKEN);
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatch(/local repositories are disabled/);
    expect(harness.app.store.listSessions()).toHaveLength(0);
  });

  it('the same request is accepted and run when local repositories are allowed (the default on loopback)', async () => {
    const url = await start({});
    const accepted = await submit(url, repo);
    expect(accepted.status).toBe(201);
    const session = await waitForFinal(harness.app, accepted.body.id!);
    expect(session.repo).toBe(repo);
    expect(session.status).toBe('complete');
    expect(harness.llm.requests).toHaveLength(1);
    expect(containersOfInstance()).toBe('');
  });
});
