import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sign } from '@octokit/webhooks-methods';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerRuntime } from '../../src/sandbox/docker/docker-runtime.js';
import { makeRepo } from '../helpers/git-fixtures.js';
import { appEnv, appPrivateKey } from '../helpers/github-app-webhooks.js';
import { setupGitHubMock } from '../helpers/github-mock.js';
import { rawRequest } from '../helpers/raw-http.js';
import { SANDBOX_CONTEXT_DIR, TEST_BASE_IMAGE } from '../helpers/sandbox-image.js';
import { startTestApp, waitForFinal, type StartedTestApp } from '../helpers/test-app.js';

const SECRET = 'rebinding-test-secret';
const PUBLIC_URL = 'https://telecoder.example.com';
const EVIL = { host: 'evil.example', origin: 'http://evil.example' };

/**
 * A loopback server with the GitHub App configured and TELECODER_PUBLIC_URL set, attacked the way a
 * page in the user's browser would: after DNS rebinding its requests reach 127.0.0.1 but still name
 * evil.example in Host and Origin.
 */
describe('Host and Origin checks (DNS rebinding, cross-site requests)', () => {
  setupGitHubMock();
  let tmp: string;
  let repo: string;
  let started: StartedTestApp;
  let port: string;
  let base: string;

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'telecoder-rebinding-'));
    repo = makeRepo(join(tmp, 'repo'), { 'README.md': '# hi\n' });
    started = await startTestApp({
      image: 'unused-image',
      llmUrl: 'http://127.0.0.1:9',
      provider: 'anthropic',
      env: { ...appEnv(appPrivateKey(), SECRET), TELECODER_PUBLIC_URL: PUBLIC_URL },
      // Sessions accepted here fail at once on an unreachable Docker: no container, no image build.
      // Its ping is made to pass, or the request would be refused (503) before a session exists.
      customize: (builder) => {
        const runtime = new DockerRuntime({
          docker: new Dockerode({ socketPath: join(tmp, 'no-docker.sock') }),
          image: 'unused-image',
          baseImage: TEST_BASE_IMAGE,
          contextDir: SANDBOX_CONTEXT_DIR,
        });
        runtime.ping = async () => undefined;
        builder.withSandbox(runtime);
      },
    });
    port = new URL(started.url).port;
    base = `http://127.0.0.1:${port}`;
  });

  afterAll(async () => {
    if (started) for (const session of started.app.store.listSessions()) await waitForFinal(started.app, session.id);
    await started?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  const createSession = (headers: Record<string, string>) =>
    rawRequest(`${base}/api/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ repo, prompt: 'say hello' }),
    });

  it('refuses a rebinding page: no session is created, none is listed, no event stream opens', async () => {
    const created = await createSession(EVIL);
    expect(created.status).toBe(421);
    expect(JSON.parse(created.text).error).toMatch(/answers only to its own address.*TELECODER_PUBLIC_URL/s);
    expect(started.app.store.listSessions()).toEqual([]);

    const listed = await rawRequest(`${base}/api/sessions`, { headers: EVIL });
    expect(listed.status).toBe(421);
    expect(listed.text).not.toMatch(/"id"/);

    const events = await rawRequest(`${base}/api/sessions/anything/events`, { headers: EVIL });
    expect(events.status).toBe(421);
    expect(events.headers['content-type']).not.toMatch(/event-stream/);
    expect((await rawRequest(`${base}/health`, { headers: { host: 'evil.example' } })).status).toBe(421);
  });

  it('refuses a foreign Host alone (421) and a foreign or opaque Origin alone (403)', async () => {
    expect((await createSession({ host: 'evil.example' })).status).toBe(421);
    expect((await createSession({ host: `evil.example:${port}` })).status).toBe(421);
    expect((await createSession({ host: '127.0.0.1' })).status).toBe(421); // another port (80)
    for (const origin of ['http://evil.example', `http://evil.example:${port}`, 'null', `https://127.0.0.1.evil.example:${port}`]) {
      const answer = await createSession({ host: `127.0.0.1:${port}`, origin });
      expect(answer.status, origin).toBe(403);
      expect(JSON.parse(answer.text).error).toMatch(/cross-origin request refused/);
    }
    expect(started.app.store.listSessions()).toEqual([]);
  });

  it("serves the server's own names, with no Origin or its own", async () => {
    const created = await createSession({ host: `127.0.0.1:${port}` });
    expect(created.status).toBe(201);
    const { id } = JSON.parse(created.text) as { id: string };

    const ownRequests: Record<string, string>[] = [
      { host: `localhost:${port}`, origin: `http://localhost:${port}` },
      { host: `[::1]:${port}` },
      { host: `127.0.0.1:${port}`, origin: `http://127.0.0.1:${port}` },
      // TELECODER_PUBLIC_URL: what a reverse proxy in front of the loopback server forwards.
      { host: 'telecoder.example.com', origin: PUBLIC_URL },
    ];
    for (const headers of ownRequests) {
      const listed = await rawRequest(`${base}/api/sessions`, { headers });
      expect(listed.status, JSON.stringify(headers)).toBe(200);
      expect((JSON.parse(listed.text) as { id: string }[]).map((session) => session.id)).toEqual([id]);
    }
    // The CLI and the tests connect to 127.0.0.1:<port> with fetch, which sends Host but no Origin.
    expect((await fetch(`${base}/api/sessions/${id}`)).status).toBe(200);
  });

  it('leaves the webhook route to its signature: a foreign Origin reaches Probot, which still checks it', async () => {
    const body = JSON.stringify({ zen: 'Keep it logically awesome.', hook_id: 1 });
    const deliver = async (signature: string) =>
      rawRequest(`${base}/api/github/webhooks`, {
        method: 'POST',
        headers: {
          ...EVIL,
          'content-type': 'application/json',
          'x-github-event': 'ping',
          'x-github-delivery': `rebinding-${Math.random()}`,
          'x-hub-signature-256': signature,
        },
        body,
      });
    const signed = await deliver(await sign(SECRET, body));
    expect(signed.status).toBe(200);
    const forged = await deliver(await sign('not-the-secret', body));
    expect([400, 401]).toContain(forged.status);
    expect(forged.text).toMatch(/signature/i);
    expect(forged.text).not.toMatch(/cross-origin|own address/);
  });
});
