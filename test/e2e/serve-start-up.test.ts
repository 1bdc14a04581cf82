/**
 * The first minute of `telecoder serve`, as an operator sees it: one summary of what is on and
 * what is missing, machine-readable log lines when the output is not a terminal, start-up
 * refusals that name the variable to change, and no call to smee.io nobody asked for.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { createServer as createTcpServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { instanceIdOf, removeInstanceResources } from '../helpers/docker-leftovers.js';
import { appEnv, appPrivateKey } from '../helpers/github-app-webhooks.js';
import { recordConnections } from '../helpers/record-connections.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { startTestApp, type StartedTestApp } from '../helpers/test-app.js';
import { transpileSources, type TranspiledSources } from '../helpers/transpile-sources.js';
import { waitUntil } from '../helpers/wait-until.js';

/** The operator's environment, none of the test runner's: no keys, no App, egress off (no proxy container). */
function serverEnv(dataDir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: dataDir,
    TELECODER_DATA_DIR: dataDir,
    TELECODER_EGRESS: 'none',
    ...(process.env.DOCKER_HOST ? { DOCKER_HOST: process.env.DOCKER_HOST } : {}),
    ...extra,
  };
}

/** Runs `serve` to its end (it is expected to refuse to start); resolves its exit code and output. */
function serveUntilExit(cli: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, 'serve'], { env, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, output: `${stdout}${stderr}` });
    });
  });
}

describe('telecoder serve at start-up', () => {
  let build: TranspiledSources;
  let buildDir: string;
  let tmp: string;
  const cleanups: Array<() => Promise<void> | void> = [];

  beforeAll(() => {
    buildDir = mkdtempSync(join(tmpdir(), 'telecoder-build-'));
    build = transpileSources(buildDir);
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  afterAll(() => {
    if (buildDir) rmSync(buildDir, { recursive: true, force: true });
  });

  function dataDir(): string {
    tmp = mkdtempSync(join(tmpdir(), 'telecoder-start-up-'));
    const dir = join(tmp, 'data');
    cleanups.push(() => {
      if (existsSync(join(dir, 'telecoder.db'))) removeInstanceResources(instanceIdOf(dir));
      rmSync(tmp, { recursive: true, force: true });
    });
    return dir;
  }

  it('prints one summary of what is on and what is missing, and logs JSON lines when not on a terminal', async () => {
    const dir = dataDir();
    const server: ServerProcess = await startServerProcess({ cli: build.cli, env: serverEnv(dir, { TELECODER_DOCKER_IMAGE: 'telecoder-summary-test' }) });
    cleanups.push(() => server.kill());
    await server.waitForOutput('Local repos:');
    const output = server.output();
    const summary = output.slice(output.indexOf('TeleCoder is listening on'));
    expect(summary).toContain(`TeleCoder is listening on ${server.url}\n`);
    expect(summary).toContain('  LLM:         no LLM key: set ANTHROPIC_API_KEY or OPENAI_API_KEY');
    expect(summary).toContain('  Git host:    none: local repositories only');
    expect(summary).toContain('  Sandbox:     image telecoder-summary-test; egress none (no network)');
    expect(summary).toContain(`  API:         on at ${server.url}/api (no token: loopback only)`);
    expect(summary).toContain(`  GitHub App:  not configured: set it up at ${server.url}/probot`);
    expect(summary).toContain('  Local repos: allowed');
    // And it is true: the API answers although no App is configured.
    expect((await fetch(`${server.url}/api/sessions`)).status).toBe(200);

    // stderr is a pipe here: every log line is one JSON object, with "name" once.
    const logLines = output.split('\n').filter((line) => line.startsWith('{'));
    expect(logLines.length).toBeGreaterThan(0);
    for (const line of logLines) {
      expect(JSON.parse(line), line).toMatchObject({ name: 'telecoder' });
      expect(line.match(/"name":/g), line).toHaveLength(1);
    }
    expect(output).toMatch(/GitHub App not configured: GitHub webhooks are off; the API, the CLI and local repositories work/);
    expect(output).not.toMatch(/custom routes will not work|smee/i);
  });

  it('names TELECODER_ADDR, not PORT, when the address is taken', async () => {
    const taken: Server = createTcpServer();
    await new Promise<void>((resolve) => taken.listen({ host: '127.0.0.1', port: 0 }, resolve));
    cleanups.push(() => new Promise<void>((resolve) => taken.close(() => resolve())));
    const port = (taken.address() as { port: number }).port;
    const { code, output } = await serveUntilExit(build.cli, serverEnv(dataDir(), { TELECODER_ADDR: `127.0.0.1:${port}` }));
    expect(code).toBe(1);
    expect(output).toContain(`telecoder: 127.0.0.1:${port} is already in use`);
    expect(output).toContain(`set TELECODER_ADDR to a free address, e.g. TELECODER_ADDR=127.0.0.1:${port + 1}`);
    expect(output).not.toContain('PORT environment variable');
  });

  it('refuses a URL setting with a note after it, naming the variable', async () => {
    const { code, output } = await serveUntilExit(
      build.cli,
      serverEnv(dataDir(), { OPENAI_BASE_URL: 'https://api.openai.com/v1   (Ollama: http://localhost:11434/v1)' }),
    );
    expect(code).toBe(1);
    expect(output).toContain('OPENAI_BASE_URL has spaces in it');
    expect(output).not.toContain('TeleCoder is listening');
  });
});

describe('smee.io', () => {
  let started: StartedTestApp | undefined;
  afterEach(async () => {
    await started?.stop();
    started = undefined;
  });

  const start = (env: Record<string, string>) =>
    startTestApp({ image: 'unused-image', llmUrl: 'http://127.0.0.1:9', provider: 'anthropic', env });

  it('is not contacted without WEBHOOK_PROXY_URL, with a GitHub App or without one', async () => {
    for (const env of [appEnv(appPrivateKey(), 'smee-secret'), {}]) {
      const connections = recordConnections();
      try {
        started = await start(env);
        // Probot's smee client connects right after the server listens, when it is given a channel.
        await new Promise((resolve) => setTimeout(resolve, 500));
      } finally {
        connections.restore();
      }
      expect(connections.outside).toEqual([]);
      await started.stop();
      started = undefined;
    }
  });

  it('is what WEBHOOK_PROXY_URL names, once set with a GitHub App (the check above can see a channel)', async () => {
    const requests: IncomingMessage[] = [];
    const channel = createHttpServer((req, res) => {
      requests.push(req);
      res.writeHead(200, { 'content-type': 'text/event-stream' }).write(': ready\n\n');
    });
    await new Promise<void>((resolve) => channel.listen({ host: '127.0.0.1', port: 0 }, resolve));
    try {
      const url = `http://127.0.0.1:${(channel.address() as { port: number }).port}/telecoder-channel`;
      started = await start({ ...appEnv(appPrivateKey(), 'smee-secret'), WEBHOOK_PROXY_URL: url });
      await waitUntil('the channel to be asked for events', () => requests.length > 0, { timeoutMs: 10_000 });
      expect(requests[0]!.url).toBe('/telecoder-channel');
      await started.stop();
      started = undefined;
    } finally {
      channel.closeAllConnections();
      await new Promise((resolve) => channel.close(resolve));
    }
  });
});
