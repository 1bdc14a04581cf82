import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/logger.js';
import { createHttpServer, type RunningHttpServer } from '../../src/server/create-http-server.js';
import { appPrivateKey } from '../helpers/github-app-webhooks.js';
import { setupGitHubMock } from '../helpers/github-mock.js';
import { rawRequest, type RawResponse } from '../helpers/raw-http.js';
import { recordConnections } from '../helpers/record-connections.js';
import { startTestApp, type StartedTestApp } from '../helpers/test-app.js';

const TOKEN = 'setup-test-token-0123456789abcdef';
const APP_KEYS = ['APP_ID', 'PRIVATE_KEY', 'WEBHOOK_SECRET', 'WEBHOOK_PROXY_URL', 'GITHUB_CLIENT_ID', 'GITHUB_CLIENT_SECRET'];
const PEM = appPrivateKey();
const ATTACKER_PEM = appPrivateKey();

const importBody = (appId: string, pem: string, secret: string) => JSON.stringify({ appId, pem, webhook_secret: secret });
const json = { 'content-type': 'application/json' };
const bearer = { authorization: `Bearer ${TOKEN}` };

/** The `telecoder_setup=…` pair of a response's Set-Cookie, as a browser would send it back. */
function cookieOf(response: RawResponse): string {
  const header = response.headers['set-cookie']?.find((value) => value.startsWith('telecoder_setup='));
  if (!header) throw new Error(`no setup cookie in ${JSON.stringify(response.headers)}`);
  return header.split(';')[0]!;
}

/** The `state` on the setup page's form, which posts the manifest to GitHub. */
function stateOf(html: string): string {
  const action = /<form action="([^"]+)"/.exec(html)?.[1];
  if (!action) throw new Error(`no form in the setup page:\n${html.slice(0, 2000)}`);
  const url = new URL(action.replace(/&amp;/g, '&'));
  expect(`${url.origin}${url.pathname}`).toBe('https://github.com/settings/apps/new');
  return url.searchParams.get('state') ?? '';
}

/**
 * Setup mode must not leave traces: the working directory is a fresh one (Probot's own setup app
 * wrote ./.env there), and Probot's updateEnv also wrote into process.env.
 */
function isolateWorkingDirectory() {
  const saved = Object.fromEntries(APP_KEYS.map((key) => [key, process.env[key]]));
  const previous = process.cwd();
  const cwd = mkdtempSync(join(tmpdir(), 'telecoder-setup-cwd-'));
  process.chdir(cwd);
  return {
    cwd,
    restore() {
      process.chdir(previous);
      rmSync(cwd, { recursive: true, force: true });
      for (const key of APP_KEYS) {
        if (saved[key] === undefined) delete process.env[key];
        else process.env[key] = saved[key];
      }
    },
  };
}

function expectNothingWritten(cwd: string, dataDir: string, dataDirBefore: string[]) {
  expect(existsSync(join(cwd, '.env'))).toBe(false);
  expect(readdirSync(cwd)).toEqual([]);
  expect(readdirSync(dataDir).sort()).toEqual(dataDirBefore);
  for (const key of ['APP_ID', 'PRIVATE_KEY', 'WEBHOOK_SECRET']) expect(process.env[key]).toBeUndefined();
}

async function startSetupMode(env: Record<string, string>, dataDir?: string) {
  // Probot's setup app skipped its smee.io channel when this was set; it must not matter.
  delete process.env.NO_SMEE_SETUP;
  const connections = recordConnections();
  try {
    const started = await startTestApp({ image: 'unused-image', llmUrl: 'http://127.0.0.1:9', provider: 'anthropic', env, ...(dataDir ? { dataDir } : {}) });
    return { started, outside: [...connections.outside] };
  } finally {
    connections.restore();
  }
}

describe('setup pages with TELECODER_API_TOKEN set, listening beyond loopback', () => {
  const github = setupGitHubMock();
  let isolation: ReturnType<typeof isolateWorkingDirectory>;
  let started: StartedTestApp;
  let base: string;
  let dataDirBefore: string[];

  beforeAll(async () => {
    isolation = isolateWorkingDirectory();
    const start = await startSetupMode({ TELECODER_ADDR: '0.0.0.0:0', TELECODER_API_TOKEN: TOKEN });
    started = start.started;
    // No smee.io channel, nor anything else, is asked for at start-up.
    expect(start.outside).toEqual([]);
    base = `http://127.0.0.1:${new URL(started.url).port}`;
    dataDirBefore = readdirSync(started.dataDir).sort();
  });

  afterAll(async () => {
    await started?.stop();
    isolation?.restore();
  });

  it('refuses POST /probot/import without the token (401) and writes nothing anywhere', async () => {
    for (const headers of [json, { ...json, authorization: 'Bearer wrong-token' }]) {
      const answer = await rawRequest(`${base}/probot/import`, { method: 'POST', headers, body: importBody('666', ATTACKER_PEM, 'attacker') });
      expect(answer.status).toBe(401);
      expect(answer.headers['www-authenticate']).toBe('Bearer realm="telecoder"');
      expect(JSON.parse(answer.text).error).toMatch(/API token.*\/probot\/link/s);
    }
    expectNothingWritten(isolation.cwd, started.dataDir, dataDirBefore);
  });

  it('refuses every other setup route without the token, and a callback without a state this server minted', async () => {
    for (const path of ['/probot', '/probot/import', '/probot/success', '/probot/static/primer.css']) {
      expect((await rawRequest(`${base}${path}`)).status, path).toBe(401);
    }
    expect((await rawRequest(`${base}/probot/link`, { method: 'POST' })).status).toBe(401);
    expect((await rawRequest(`${base}/probot?ticket=forged`)).status).toBe(403);
    // GitHub's redirect back: refused before any GitHub request (an unmatched one fails the test).
    for (const query of ['code=attacker-code', 'code=attacker-code&state=forged']) {
      const callback = await rawRequest(`${base}/probot/setup?${query}`, { headers: bearer });
      expect(callback.status).toBe(403);
      expect(JSON.parse(callback.text).error).toMatch(/not started from this server's setup page/);
    }
    expectNothingWritten(isolation.cwd, started.dataDir, dataDirBefore);
  });

  it('lets a browser register an App: a one-time link minted with the token, its cookie, and the state GitHub sends back', async () => {
    const link = await rawRequest(`${base}/probot/link`, { method: 'POST', headers: bearer });
    expect(link.status).toBe(201);
    const { url } = JSON.parse(link.text) as { url: string };
    expect(url).toMatch(new RegExp(`^${base}/probot\\?ticket=[\\w-]{40,}$`));

    const opened = await rawRequest(url);
    expect(opened.status).toBe(303);
    expect(opened.headers.location).toBe('/probot');
    expect(opened.headers['set-cookie']?.[0]).toMatch(/; Path=\/probot; Max-Age=1800; HttpOnly; SameSite=Lax$/);
    const cookie = cookieOf(opened);
    expect((await rawRequest(url)).status).toBe(403); // the link works once

    const page = await rawRequest(`${base}/probot`, { headers: { cookie } });
    expect(page.status).toBe(200);
    expect(page.headers['x-frame-options']).toBe('DENY');
    const state = stateOf(page.text);
    expect((await rawRequest(`${base}/probot/static/primer.css`, { headers: { cookie } })).status).toBe(200);

    github.scope.post('/app-manifests/manifest-code/conversions').reply(201, {
      id: 1001,
      client_id: 'Iv1.client',
      client_secret: 'client-secret',
      webhook_secret: 'registered-secret',
      pem: PEM,
      html_url: 'https://github.com/apps/telecoder-test',
    });
    // GitHub's redirect is a cross-site navigation: it brings the state, not the cookie.
    const callback = await rawRequest(`${base}/probot/setup?code=manifest-code&state=${state}`);
    expect(callback.status).toBe(302);
    expect(callback.headers.location).toBe('https://github.com/apps/telecoder-test/installations/new');
    const saved = parseEnv(readFileSync(join(started.dataDir, 'github-app.env'), 'utf8'));
    expect(saved).toMatchObject({ APP_ID: '1001', WEBHOOK_SECRET: 'registered-secret', GITHUB_CLIENT_ID: 'Iv1.client' });
    expect(saved.PRIVATE_KEY?.trim()).toBe(PEM.trim());
    expect(statSync(join(started.dataDir, 'github-app.env')).mode & 0o777).toBe(0o600);

    // The state is used up: a replay asks GitHub nothing.
    expect((await rawRequest(`${base}/probot/setup?code=manifest-code&state=${state}`)).status).toBe(403);
    expect(existsSync(join(isolation.cwd, '.env'))).toBe(false);

    // The same cookie serves "use an existing GitHub App": its page, its upload, then the success page.
    expect((await rawRequest(`${base}/probot/import`, { headers: { cookie } })).status).toBe(200);
    const uploaded = await rawRequest(`${base}/probot/import`, {
      method: 'POST',
      headers: { ...json, cookie, origin: base },
      body: importBody('1002', PEM, 'uploaded-secret'),
    });
    expect(uploaded.status).toBe(200);
    expect(parseEnv(readFileSync(join(started.dataDir, 'github-app.env'), 'utf8'))).toMatchObject({ APP_ID: '1002' });
    expect((await rawRequest(`${base}/probot/success`, { headers: { cookie } })).status).toBe(200);
  });

  it('with the token, POST /probot/import stores the keys in the data dir (0600, directory 0700), and the next start uses them', async () => {
    const answer = await rawRequest(`${base}/probot/import`, { method: 'POST', headers: { ...json, ...bearer }, body: importBody('77', PEM, 'imported-secret') });
    expect(answer.status).toBe(200);
    const file = join(started.dataDir, 'github-app.env');
    expect(JSON.parse(answer.text).message).toContain(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(started.dataDir).mode & 0o777).toBe(0o700);
    expect(existsSync(join(isolation.cwd, '.env'))).toBe(false);
    // The running server stays as it is until restarted; nothing leaked into its environment.
    for (const key of ['APP_ID', 'PRIVATE_KEY', 'WEBHOOK_SECRET']) expect(process.env[key]).toBeUndefined();

    const config = loadConfig({ TELECODER_DATA_DIR: started.dataDir });
    expect(config.githubApp).toMatchObject({ appId: '77', webhookSecret: 'imported-secret' });
    expect(config.githubApp.privateKey?.trim()).toBe(PEM.trim());

    // The next start runs the App: webhooks and installation auth, no setup pages.
    const { dataDir } = started;
    await started.stop({ keepData: true });
    const restart = await startSetupMode({ TELECODER_ADDR: '0.0.0.0:0', TELECODER_API_TOKEN: TOKEN }, dataDir);
    started = restart.started;
    expect(started.app.githubReporter).toBeDefined();
    expect((await rawRequest(`http://127.0.0.1:${new URL(started.url).port}/probot`, { headers: bearer })).status).toBe(404);
  });
});

describe('setup pages without a token, on loopback', () => {
  setupGitHubMock();
  let isolation: ReturnType<typeof isolateWorkingDirectory>;
  let started: StartedTestApp;
  let dataDirBefore: string[];

  beforeAll(async () => {
    isolation = isolateWorkingDirectory();
    const start = await startSetupMode({});
    started = start.started;
    expect(start.outside).toEqual([]);
    dataDirBefore = readdirSync(started.dataDir).sort();
  });

  afterAll(async () => {
    await started?.stop();
    isolation?.restore();
  });

  it('serves the pages, but takes keys only from a browser holding the cookie one of them set', async () => {
    const page = await rawRequest(`${started.url}/probot`);
    expect(page.status).toBe(200);
    expect(stateOf(page.text)).toMatch(/^[\w-]{40,}$/);

    // A script, or a form on another site (which a browser sends with its Origin), gets nothing in.
    const bare = await rawRequest(`${started.url}/probot/import`, { method: 'POST', headers: json, body: importBody('666', ATTACKER_PEM, 'x') });
    expect(bare.status).toBe(403);
    expect(JSON.parse(bare.text).error).toMatch(/setup cookie/);
    const importPage = await rawRequest(`${started.url}/probot/import`);
    const cookie = cookieOf(importPage);
    const crossSite = await rawRequest(`${started.url}/probot/import`, {
      method: 'POST',
      headers: { ...json, cookie, origin: 'http://evil.example' },
      body: importBody('666', ATTACKER_PEM, 'x'),
    });
    expect(crossSite.status).toBe(403);
    expectNothingWritten(isolation.cwd, started.dataDir, dataDirBefore);

    const imported = await rawRequest(`${started.url}/probot/import`, {
      method: 'POST',
      headers: { ...json, cookie, origin: started.url },
      body: importBody('88', PEM, 'mine'),
    });
    expect(imported.status).toBe(200);
    expect(statSync(join(started.dataDir, 'github-app.env')).mode & 0o777).toBe(0o600);
    expect(parseEnv(readFileSync(join(started.dataDir, 'github-app.env'), 'utf8'))).toMatchObject({ APP_ID: '88', WEBHOOK_SECRET: 'mine' });
    expect(existsSync(join(isolation.cwd, '.env'))).toBe(false);
    // The import page then shows /probot/success with the same cookie.
    expect((await rawRequest(`${started.url}/probot/success`, { headers: { cookie } })).status).toBe(200);
  });

  it('refuses GitHub\'s redirect back without the state of a page it served, asking GitHub nothing', async () => {
    expect((await rawRequest(`${started.url}/probot/setup?code=attacker-code`)).status).toBe(403);
    expect((await rawRequest(`${started.url}/probot/setup?code=attacker-code&state=guess`)).status).toBe(403);
  });
});

describe('setup pages without a token beyond loopback', () => {
  // loadConfig refuses this combination (see test/unit/config.test.ts); the pages refuse it too.
  let running: RunningHttpServer;
  const saved: Record<string, string>[] = [];

  beforeAll(async () => {
    const prepared = await createHttpServer({
      host: '0.0.0.0',
      port: 0,
      logger: createLogger('silent'),
      handlers: [],
      saveAppCredentials: (values) => {
        saved.push(values);
        return '/nowhere';
      },
    });
    running = await prepared.listen();
  });

  afterAll(async () => {
    await running?.close();
  });

  it('are not served', async () => {
    const base = `http://127.0.0.1:${new URL(running.url).port}`;
    for (const path of ['/probot', '/probot/import', '/probot/static/primer.css', '/probot/setup?code=x&state=y']) {
      const answer = await rawRequest(`${base}${path}`);
      expect(answer.status, path).toBe(403);
      expect(JSON.parse(answer.text).error).toMatch(/only on a loopback address unless TELECODER_API_TOKEN is set/);
    }
    const posted = await rawRequest(`${base}/probot/import`, { method: 'POST', headers: json, body: importBody('666', ATTACKER_PEM, 'x') });
    expect(posted.status).toBe(403);
    expect(saved).toEqual([]);
  });
});
