import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sign } from '@octokit/webhooks-methods';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/server/free-port.js';
import { packageRoot } from '../../src/server/package-root.js';
import { appEnv, appPrivateKey } from '../helpers/github-app-webhooks.js';
import { setupGitHubMock } from '../helpers/github-mock.js';
import { startTestApp, type StartedTestApp } from '../helpers/test-app.js';
import { waitUntil } from '../helpers/wait-until.js';

const TOKEN = 'reverse-proxy-test-token-0123456789abcdef';
const SECRET = 'reverse-proxy-webhook-secret';
/** What docker/Caddyfile forwards to in compose; here replaced by the test server's address. */
const COMPOSE_UPSTREAM = 'reverse_proxy telecoder:7080';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** HTTPS to Caddy, trusting only the local CA Caddy made for `localhost`. */
function https(url: string, ca: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers, ca }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/**
 * docker/Caddyfile run by the real Caddy in front of the whole app, as docker/compose.yml does:
 * Caddy terminates TLS for TELECODER_DOMAIN (`localhost`, with Caddy's own local CA instead of
 * Let's Encrypt) and forwards to TeleCoder, whose TELECODER_PUBLIC_URL is Caddy's address and which
 * requires the API token. Only the upstream differs from compose (a loopback port, not the
 * `telecoder` service), and Caddy listens on loopback ports with its admin API off.
 */
describe('behind Caddy (docker/Caddyfile): TLS, the API, webhooks', () => {
  setupGitHubMock();
  let tmp: string;
  let caddy: ChildProcess | undefined;
  let caddyLog = '';
  let started: StartedTestApp;
  let publicUrl: string;
  let ca: string;

  beforeAll(async () => {
    try {
      execFileSync('caddy', ['version'], { stdio: 'ignore' });
    } catch {
      throw new Error('caddy is not installed: this test runs docker/Caddyfile with the real Caddy; install it (apt-get install caddy, as .ci/run does)');
    }
    tmp = mkdtempSync(join(tmpdir(), 'telecoder-caddy-'));
    const [httpsPort, httpPort] = [await freePort('127.0.0.1'), await freePort('127.0.0.1')];
    publicUrl = `https://localhost:${httpsPort}`;
    started = await startTestApp({
      image: 'unused-image',
      llmUrl: 'http://127.0.0.1:9',
      provider: 'anthropic',
      env: { ...appEnv(appPrivateKey(), SECRET), TELECODER_PUBLIC_URL: publicUrl, TELECODER_API_TOKEN: TOKEN },
    });

    const site = readFileSync(join(packageRoot(), 'docker', 'Caddyfile'), 'utf8');
    expect(site.split(COMPOSE_UPSTREAM).length - 1, `docker/Caddyfile should forward with "${COMPOSE_UPSTREAM}" once`).toBe(1);
    writeFileSync(join(tmp, 'site.Caddyfile'), site.replace(COMPOSE_UPSTREAM, `reverse_proxy ${new URL(started.url).host}`));
    writeFileSync(
      join(tmp, 'Caddyfile'),
      [
        '{',
        '\tadmin off',
        '\tskip_install_trust',
        '\tdefault_bind 127.0.0.1',
        `\thttps_port ${httpsPort}`,
        `\thttp_port ${httpPort}`,
        `\tstorage file_system ${join(tmp, 'storage')}`,
        '}',
        `import ${join(tmp, 'site.Caddyfile')}`,
        '',
      ].join('\n'),
    );
    caddy = spawn('caddy', ['run', '--config', join(tmp, 'Caddyfile'), '--adapter', 'caddyfile'], {
      env: { ...process.env, TELECODER_DOMAIN: 'localhost', HOME: tmp, XDG_DATA_HOME: tmp, XDG_CONFIG_HOME: tmp },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (chunk: Buffer) => (caddyLog = (caddyLog + chunk.toString('utf8')).slice(-8000));
    caddy.stdout?.on('data', keep);
    caddy.stderr?.on('data', keep);

    const root = join(tmp, 'storage', 'pki', 'authorities', 'local', 'root.crt');
    try {
      await waitUntil('Caddy to serve /health over TLS', async () => {
        if (caddy?.exitCode !== null) throw new Error(`caddy exited with ${caddy?.exitCode}`);
        if (!existsSync(root)) return false;
        ca = readFileSync(root, 'utf8');
        return (await https(`${publicUrl}/health`, ca).catch(() => undefined))?.status === 200;
      }, { timeoutMs: 30_000, intervalMs: 200 });
    } catch (error) {
      throw new Error(`${(error as Error).message}; Caddy's log:\n${caddyLog}`, { cause: error });
    }
  });

  afterAll(async () => {
    if (caddy && caddy.exitCode === null) {
      const exited = new Promise((resolve) => caddy?.once('exit', resolve));
      caddy.kill('SIGTERM');
      await exited;
    }
    await started?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('serves /health over TLS with HSTS, and nothing but the status', async () => {
    const answer = await https(`${publicUrl}/health`, ca);
    expect(answer.status).toBe(200);
    expect(answer.body).toBe('{"status":"ok"}');
    expect(answer.headers['strict-transport-security']).toBe('max-age=31536000');
  });

  it('forwards the API: the token is required, a browser on the public URL is served, another site refused', async () => {
    expect((await https(`${publicUrl}/api/sessions`, ca)).status).toBe(401);
    const own = await https(`${publicUrl}/api/sessions`, ca, { headers: { authorization: `Bearer ${TOKEN}`, origin: publicUrl } });
    expect(own.status).toBe(200);
    expect(JSON.parse(own.body)).toEqual([]);
    const foreign = await https(`${publicUrl}/api/sessions`, ca, { headers: { authorization: `Bearer ${TOKEN}`, origin: 'https://evil.example' } });
    expect(foreign.status).toBe(403);
  });

  it('delivers GitHub webhooks byte for byte: the signature over the raw body still verifies', async () => {
    // Whitespace and key order that a re-encoding proxy would not keep.
    const body = '{ "zen":  "Design for failure.", "hook_id": 1,\n  "hook": { "active": true } }';
    const headers = { 'content-type': 'application/json', 'x-github-event': 'ping', 'user-agent': 'GitHub-Hookshot/test' };
    const signed = await https(`${publicUrl}/api/github/webhooks`, ca, {
      method: 'POST',
      body,
      headers: { ...headers, 'x-github-delivery': 'caddy-1', 'x-hub-signature-256': await sign(SECRET, body) },
    });
    expect(signed.status).toBe(200);
    const forged = await https(`${publicUrl}/api/github/webhooks`, ca, {
      method: 'POST',
      body,
      headers: { ...headers, 'x-github-delivery': 'caddy-2', 'x-hub-signature-256': await sign('not-the-secret', body) },
    });
    expect(forged.status).toBe(400);
  });
});
