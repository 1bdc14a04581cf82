import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { createHttpServer, type RunningHttpServer } from '../../src/server/create-http-server.js';
import { createDashboardHandler, DASHBOARD_CSP } from '../../src/server/dashboard-handler.js';
import { rawRequest, type RawResponse } from '../helpers/raw-http.js';

const INDEX = '<!doctype html><html><head><script type="module" src="/assets/app-abc123.js"></script></head><body><div id="root"></div></body></html>';
const SCRIPT = 'console.log("dashboard");\n';
const TOKEN = 'dashboard-test-token';

function expectDashboardHeaders(answer: RawResponse, label: string) {
  expect(answer.headers['content-security-policy'], label).toBe(DASHBOARD_CSP);
  expect(answer.headers['x-content-type-options'], label).toBe('nosniff');
  expect(answer.headers['referrer-policy'], label).toBe('no-referrer');
}

/** The real server (guards included), in setup mode with an API token, serving `dir` as the dashboard. */
async function serve(dir: string): Promise<RunningHttpServer> {
  const prepared = await createHttpServer({
    host: '127.0.0.1',
    port: 0,
    logger: createLogger('silent'),
    handlers: [createDashboardHandler({ dir })],
    apiToken: TOKEN,
    saveAppCredentials: () => '/nowhere',
  });
  return prepared.listen();
}

describe('the built dashboard, served by the TeleCoder server', () => {
  let root: string;
  let web: string;
  let running: RunningHttpServer;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'telecoder-dashboard-'));
    web = join(root, 'web');
    mkdirSync(join(web, 'assets'), { recursive: true });
    writeFileSync(join(web, 'index.html'), INDEX);
    writeFileSync(join(web, 'assets', 'app-abc123.js'), SCRIPT);
    writeFileSync(join(web, 'assets', 'app-abc123.css'), 'body{margin:0}');
    writeFileSync(join(root, 'secret.txt'), 'outside the dashboard');
    symlinkSync(join(root, 'secret.txt'), join(web, 'assets', 'escape.js'));
    symlinkSync(root, join(web, 'assets', 'up'));
    running = await serve(web);
  });

  afterAll(async () => {
    await running?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('answers / and session deep links with index.html, revalidated on every load, without the API token', async () => {
    for (const path of ['/', '/sessions/abc123', '/sessions/abc123/', '/?token=x']) {
      const answer = await rawRequest(`${running.url}${path}`);
      expect(answer.status, path).toBe(200);
      expect(answer.headers['content-type'], path).toBe('text/html; charset=utf-8');
      expect(answer.headers['cache-control'], path).toBe('no-cache');
      expect(answer.text, path).toBe(INDEX);
      expectDashboardHeaders(answer, path);
    }
  });

  it('answers assets with their type and cached for good', async () => {
    const script = await rawRequest(`${running.url}/assets/app-abc123.js`);
    expect(script.status).toBe(200);
    expect(script.text).toBe(SCRIPT);
    expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(script.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expectDashboardHeaders(script, 'script');
    const style = await rawRequest(`${running.url}/assets/app-abc123.css`);
    expect(style.headers['content-type']).toBe('text/css; charset=utf-8');
    const head = await rawRequest(`${running.url}/assets/app-abc123.js`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(Buffer.byteLength(SCRIPT)));
    expect(head.text).toBe('');
  });

  it('serves nothing outside its directory, however the path is spelled', async () => {
    const attempts = [
      '/assets/../../secret.txt',
      '/assets/..%2f..%2fsecret.txt',
      '/assets/%2e%2e/%2e%2e/secret.txt',
      '/assets/%2e%2e%2f%2e%2e%2fsecret.txt',
      '/assets/..%5c..%5csecret.txt',
      `/assets/${encodeURIComponent(join(root, 'secret.txt'))}`,
      `/assets//${join(root, 'secret.txt')}`,
      '/assets/escape.js', // a symlink to a file outside
      '/assets/up/secret.txt', // through a symlinked directory
      '/assets/up%2fsecret.txt',
      '/assets/%00',
      '/assets/missing-file.js',
    ];
    for (const path of attempts) {
      const answer = await rawRequest(`${running.url}${path}`);
      expect(answer.text, path).not.toContain('outside the dashboard');
      // Either this handler's 404 or, for a path it does not claim, not a 200 from anywhere else.
      expect(answer.status, path).not.toBe(200);
    }
    const missing = await rawRequest(`${running.url}/assets/missing-file.js`);
    expect(missing.status).toBe(404);
    expectDashboardHeaders(missing, 'missing');
  });

  it('stays behind the Host/Origin guard, and leaves /probot and the API to their own guards', async () => {
    const rebound = await rawRequest(`${running.url}/`, { headers: { host: 'evil.example' } });
    expect(rebound.status).toBe(421);
    expect(rebound.text).not.toContain('<div id="root">');
    const crossSite = await rawRequest(`${running.url}/`, { headers: { origin: 'https://evil.example' } });
    expect(crossSite.status).toBe(403);
    // Setup mode: the dashboard has `/`, the setup pages keep needing the token.
    expect((await rawRequest(`${running.url}/probot`)).status).toBe(401);
  });
});

describe('before the dashboard is built', () => {
  let empty: string;
  let running: RunningHttpServer;

  beforeAll(async () => {
    empty = mkdtempSync(join(tmpdir(), 'telecoder-dashboard-empty-'));
    running = await serve(join(empty, 'does-not-exist'));
  });

  afterAll(async () => {
    await running?.close();
    rmSync(empty, { recursive: true, force: true });
  });

  it('answers / with a short page saying how to build it', async () => {
    for (const path of ['/', '/sessions/abc123']) {
      const answer = await rawRequest(`${running.url}${path}`);
      expect(answer.status, path).toBe(503);
      expect(answer.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(answer.text).toMatch(/dashboard is not built/);
      expect(answer.text).toContain('npm run build');
      expectDashboardHeaders(answer, path);
    }
    expect((await rawRequest(`${running.url}/assets/app-abc123.js`)).status).toBe(404);
  });
});
