import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appPrivateKey, deliver } from '../helpers/github-app-webhooks.js';
import { ensureServerImage } from '../helpers/server-image.js';
import { waitUntil } from '../helpers/wait-until.js';

const run = promisify(execFile);
const docker = async (...args: string[]) => (await run('docker', args, { maxBuffer: 16 * 1024 * 1024 })).stdout.trim();

const TOKEN = `server-image-test-${randomBytes(12).toString('hex')}`;
const SECRET = `webhook-secret-${randomBytes(12).toString('hex')}`;
const SUFFIX = randomBytes(4).toString('hex');
const VOLUME = `telecoder-server-test-${SUFFIX}`;
const LABEL = 'telecoder.server-image-test=1';
const bearer = { authorization: `Bearer ${TOKEN}` };

interface Running {
  name: string;
  url: string;
}

/**
 * One server container as docker/compose.yml runs it: the data dir on a named volume, the host's
 * Docker socket with its group, the API token — but published on 127.0.0.1 only (a random port)
 * rather than behind Caddy. The healthcheck runs every second instead of every 30 s, still with
 * the image's own HEALTHCHECK command.
 */
async function startServer(name: string): Promise<Running> {
  const socketGroup = String(statSync('/var/run/docker.sock').gid);
  await docker(
    'run', '-d', '--name', name, '--label', LABEL,
    '-p', '127.0.0.1::7080',
    '-v', `${VOLUME}:/data`,
    '-v', '/var/run/docker.sock:/var/run/docker.sock',
    '--group-add', socketGroup,
    '--health-interval', '1s',
    '-e', `TELECODER_API_TOKEN=${TOKEN}`,
    '-e', 'ANTHROPIC_API_KEY=sk-not-used-by-this-test',
    image,
  );
  const published = await docker('port', name, '7080/tcp');
  const port = /^127\.0\.0\.1:(\d+)$/m.exec(published)?.[1];
  if (!port) throw new Error(`${name} is not published on 127.0.0.1 only: ${published}`);
  const health = async () => docker('inspect', '--format', '{{.State.Status}} {{.State.Health.Status}}', name);
  try {
    await waitUntil(`${name} to be healthy`, async () => (await health()) === 'running healthy', { timeoutMs: 60_000, intervalMs: 250 });
  } catch (error) {
    const logs = await run('docker', ['logs', '--tail', '60', name]).then((out) => out.stdout + out.stderr, () => '');
    throw new Error(`${name} did not become healthy (${await health().catch(() => 'gone')}); its log:\n${logs}`, { cause: error });
  }
  return { name, url: `http://127.0.0.1:${port}` };
}

let image = '';

describe('the server image (docker/server.Dockerfile) builds, starts and serves', () => {
  let server: Running;

  beforeAll(async () => {
    ({ image } = await ensureServerImage());
    await docker('volume', 'create', '--label', LABEL, VOLUME);
    server = await startServer(`telecoder-server-test-${SUFFIX}-a`);
  }, 1_200_000);

  afterAll(async () => {
    const containers = (await docker('ps', '-aq', '--filter', `label=${LABEL}`)).split('\n').filter(Boolean);
    if (containers.length > 0) await docker('rm', '-f', '-v', ...containers);
    await docker('volume', 'rm', '-f', VOLUME).catch(() => undefined);
  }, 60_000);

  it('becomes healthy through its HEALTHCHECK; /health answers without the token and says nothing else', async () => {
    const response = await fetch(`${server.url}/health`);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('{"status":"ok"}');
  });

  it('serves the API with the token only', async () => {
    expect((await fetch(`${server.url}/api/sessions`)).status).toBe(401);
    const response = await fetch(`${server.url}/api/sessions`, { headers: bearer });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual([]);
  });

  it('serves the dashboard it built, with its content-security policy', async () => {
    const page = await fetch(`${server.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await page.text();
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const asset = await fetch(`${server.url}${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toContain('immutable');
  });

  it('reaches the Docker engine through the mounted socket as its unprivileged user', async () => {
    expect(await docker('exec', server.name, 'id', '-u')).toBe('1000');
    // Listing caches lists the engine's volumes: a socket it may not use would fail this with 500.
    const response = await fetch(`${server.url}/api/caches`, { headers: bearer });
    expect(response.status).toBe(200);
  });

  it('has node and git but no compiler', async () => {
    const probe = 'for t in node git gcc g++ cc c++ make clang python3; do if command -v "$t" >/dev/null; then echo "present:$t"; else echo "absent:$t"; fi; done';
    const found = (await docker('exec', server.name, 'sh', '-c', probe)).split('\n');
    expect(found).toEqual([
      'present:node', 'present:git',
      'absent:gcc', 'absent:g++', 'absent:cc', 'absent:c++', 'absent:make', 'absent:clang', 'absent:python3',
    ]);
  });

  it('keeps a registered App on the data volume: a new container (an upgrade) starts as that App', async () => {
    // Setup mode until then: the setup pages answer holders of the token.
    expect((await fetch(`${server.url}/probot`, { headers: bearer })).status).toBe(200);
    const imported = await fetch(`${server.url}/probot/import`, {
      method: 'POST',
      headers: { ...bearer, 'content-type': 'application/json' },
      body: JSON.stringify({ appId: '4242', pem: appPrivateKey(), webhook_secret: SECRET }),
    });
    expect(imported.status).toBe(200);
    expect(((await imported.json()) as { message: string }).message).toContain('/data/github-app.env');

    await docker('rm', '-f', server.name);
    server = await startServer(`telecoder-server-test-${SUFFIX}-b`);

    // The new container read the keys at start: setup mode is over, and deliveries are checked
    // against the saved webhook secret.
    expect((await fetch(`${server.url}/probot`, { headers: bearer })).status).toBe(404);
    expect((await deliver(server.url, { event: 'ping', payload: { zen: 'Keep it logically awesome.', hook_id: 1 }, secret: 'not-the-secret' })).status).toBe(400);
    const delivered = await deliver(server.url, { event: 'ping', payload: { zen: 'Keep it logically awesome.', hook_id: 1 }, secret: SECRET });
    expect(delivered.status).toBe(200);
  });
});
