import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { main, type CliIo } from '../../src/cli/main.js';
import { packageRoot } from '../../src/server/package-root.js';
import type { Session } from '../../src/model/session.js';
import { startApiTestServer, type ApiTestServer, type ApiTestServerOptions } from '../helpers/api-test-server.js';
import { runCli, spawnCli } from '../helpers/cli-process.js';
import type { StoreBackedSessionService } from '../helpers/store-backed-session-service.js';

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function start(options: ApiTestServerOptions = {}): Promise<ApiTestServer> {
  const server = await startApiTestServer(options);
  closers.push(() => server.close());
  return server;
}

/** A CLI started in the background, ended after the test if it is still running (a failed one). */
function background(...args: Parameters<typeof spawnCli>) {
  const cli = spawnCli(...args);
  closers.push(() => void cli.child.kill('SIGKILL'));
  return cli;
}

function project(): string {
  const dir = mkdtempSync(join(tmpdir(), 'telecoder-cli-manners-'));
  closers.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A session that starts running, runs one tool call and then takes `forMs` (forever without it). */
function slowRun(forMs?: number) {
  return (session: Session, service: StoreBackedSessionService) => {
    setTimeout(() => {
      service.setStatus(session.id, 'running');
      service.emit(session.id, 'tool', { name: 'run_command', input: { command: 'npm test' } });
      if (forMs !== undefined) {
        setTimeout(() => service.finish(session.id, 'complete', { result: { type: 'text', content: 'All 3 tests pass.' } }), forMs);
      }
    }, 20);
  };
}

/** main() in this process, with its output collected (for what needs a short stream timeout). */
async function cliInProcess(args: string[], io: Partial<CliIo> & { env: NodeJS.ProcessEnv }) {
  let stdout = '';
  let stderr = '';
  const code = await main(['node', 'telecoder', ...args], {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    fetch,
    ...io,
  });
  return { code, stdout, stderr };
}

describe('the CLI on a terminal and off it', () => {
  it('Ctrl-C during run leaves the session running, says how to stop it, and exits 130', async () => {
    const server = await start({ onSubmit: slowRun() });
    const cli = background(['run', 'fix the tests', '--repo', 'octo/cat'], { cwd: project(), env: { TELECODER_SERVER: server.url } });
    await cli.waitForOutput('→ run_command: npm test');
    cli.child.kill('SIGINT');
    const ended = await cli.exited;
    expect(ended.stderr).toBe(
      'telecoder: interrupted: session s0001 is still running; `telecoder stop s0001` to stop it, `telecoder logs s0001 --follow` to watch it again\n',
    );
    expect(ended.code).toBe(130);
    expect(server.service.get('s0001').status).toBe('running');
  });

  it('Ctrl-C during chat, from the process or typed at a terminal, says the chat is still running and exits 130', async () => {
    const server = await start({ onSubmit: slowRun() });
    const piped = background(['chat', '--repo', 'octo/cat', 'fix the tests'], { cwd: project(), env: { TELECODER_SERVER: server.url }, openStdin: true });
    await piped.waitForOutput('→ run_command: npm test');
    piped.child.kill('SIGINT');
    const ended = await piped.exited;
    expect(ended.stderr).toBe(
      'telecoder: interrupted: chat s0001 is still running; `telecoder stop s0001` to stop it, `telecoder logs s0001 --follow` to watch it\n',
    );
    expect(ended.code).toBe(130);

    // On a terminal readline reads Ctrl-C as a key (raw mode), not as a signal to the process.
    const tty = background(['chat', '--repo', 'octo/cat'], { cwd: project(), env: { TELECODER_SERVER: server.url }, tty: true });
    await tty.waitForOutput('you> ');
    tty.child.stdin!.write('fix the tests\r');
    await tty.waitForOutput('→ run_command: npm test');
    tty.child.stdin!.write('\x03');
    const typed = await tty.exited;
    expect(typed.stdout).toMatch(/interrupted: chat s0002 is still running; `telecoder stop s0002` to stop it/);
    expect(server.service.get('s0001').status).toBe('running');
    expect(server.service.get('s0002').status).toBe('running');
  }, 30_000);

  it('shows a live elapsed time on a terminal while a tool runs, and nothing extra when piped or with --json', async () => {
    const server = await start({ onSubmit: slowRun(2_600) });
    const tty = await runCli(['run', 'fix the tests', '--repo', 'octo/cat'], { cwd: project(), env: { TELECODER_SERVER: server.url }, tty: true });
    expect(tty.code).toBe(0);
    // `script` merges both streams into the terminal's output.
    expect(tty.stdout).toMatch(/\r\x1b\[K[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] npm test · 2s/);
    expect(tty.stdout).toMatch(/All 3 tests pass\./);

    const piped = await runCli(['run', 'fix the tests', '--repo', 'octo/cat'], { cwd: project(), env: { TELECODER_SERVER: server.url } });
    expect(piped.code).toBe(0);
    expect(piped.stderr).toBe('');
    expect(piped.stdout).not.toMatch(/\x1b|npm test · /);

    const json = await runCli(['run', 'fix the tests', '--repo', 'octo/cat', '--json'], { cwd: project(), env: { TELECODER_SERVER: server.url }, tty: true });
    expect(json.code).toBe(0);
    expect(json.stdout).not.toMatch(/\x1b\[K/);
    for (const line of json.stdout.trim().split(/\r?\n/)) expect(() => JSON.parse(line)).not.toThrow();
  }, 30_000);

  it('gives up on a server that takes the request and never answers, after --timeout, saying so', async () => {
    const sockets = new Set<import('node:net').Socket>();
    const silent: Server = createServer(() => undefined);
    silent.on('connection', (socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    closers.push(() => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => silent.close(() => resolve()));
    });
    const port = (silent.address() as AddressInfo).port;
    const began = Date.now();
    const result = await runCli(['list', '--timeout', '1s'], { cwd: project(), env: { TELECODER_SERVER: `http://127.0.0.1:${port}` } });
    expect(Date.now() - began).toBeLessThan(10_000);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `telecoder: the TeleCoder server at http://127.0.0.1:${port} did not answer GET /api/sessions within 1 s; it may be overloaded or stuck (see its log). ` +
        'Wait with a longer --timeout (or TELECODER_TIMEOUT), e.g. --timeout 2m\n',
    );
    const fromEnv = await runCli(['list'], { cwd: project(), env: { TELECODER_SERVER: `http://127.0.0.1:${port}`, TELECODER_TIMEOUT: '500ms' } });
    expect(fromEnv.stderr).toMatch(/did not answer GET \/api\/sessions within 0\.5 s/);
    const wrong = await runCli(['list', '--timeout', 'soon'], { cwd: project(), env: { TELECODER_SERVER: `http://127.0.0.1:${port}` } });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toBe('telecoder: --timeout must be a duration like 30s or 2m (got "soon")\n');
  });

  it('reopens an event stream that went silent, and keeps one the server heartbeats', async () => {
    // Heartbeats every 100 ms: a quiet session is not a dead stream.
    const server = await start({ onSubmit: slowRun(1_200), heartbeatMs: 100 });
    const urls: string[] = [];
    const quiet = await cliInProcess(['run', 'fix it', '--repo', 'octo/cat'], {
      env: { TELECODER_SERVER: server.url },
      streamIdleMs: 500,
      fetch: (input, init) => {
        urls.push(String(input));
        return fetch(input, init);
      },
    });
    expect(quiet.stderr).toBe('');
    expect(quiet.code).toBe(0);
    expect(urls.filter((url) => url.endsWith('/events'))).toHaveLength(1);

    // The first stream answers its headers, then nothing ever again: a dead connection.
    const silentThenFine = await start({ onSubmit: slowRun(100) });
    let streams = 0;
    const run = await cliInProcess(['run', 'fix it', '--repo', 'octo/cat'], {
      env: { TELECODER_SERVER: silentThenFine.url },
      streamIdleMs: 500,
      fetch: async (input, init) => {
        const response = await fetch(input, init);
        if (!String(input).endsWith('/events') || streams++ > 0) return response;
        await response.body?.cancel();
        return new Response(new ReadableStream({}), { status: 200, headers: response.headers });
      },
    });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(streams).toBe(2);
    expect(run.stdout).toMatch(/All 3 tests pass\./);
  }, 20_000);

  it('says the server went away, and how to look the session up, when it dies mid-run', async () => {
    const server = await start({ onSubmit: slowRun() });
    const cli = background(['run', 'fix the tests', '--repo', 'octo/cat'], { cwd: project(), env: { TELECODER_SERVER: server.url } });
    await cli.waitForOutput('→ run_command: npm test');
    server.server.closeAllConnections();
    await new Promise<void>((resolve) => server.server.close(() => resolve()));
    const ended = await cli.exited;
    expect(ended.code).toBe(1);
    expect(ended.stderr).toBe(
      `telecoder: the TeleCoder server at ${server.url} went away while following session s0001 (it stopped, crashed or is restarting). ` +
        'Once it is back, `telecoder status s0001` shows how the session ended (`telecoder logs s0001 --follow` to keep watching)\n',
    );
  }, 30_000);

  it('prints its version, and takes --server without a scheme as http', async () => {
    const version = await runCli(['--version'], { cwd: project() });
    expect(version.code).toBe(0);
    expect(version.stdout).toBe(`${JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')).version}\n`);

    const server = await start();
    const list = await runCli(['list', '--server', `127.0.0.1:${server.port}`], { cwd: project() });
    expect(list.stderr).toBe('');
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/No sessions yet/);
    const wrong = await runCli(['list', '--server', 'ftp://127.0.0.1'], { cwd: project() });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toBe('telecoder: --server expects the server\'s URL, like http://127.0.0.1:7080 (got "ftp://127.0.0.1")\n');
  });

  it('status prints the result: the answer, the PR, the warning and the error', async () => {
    const server = await start();
    const { service } = server;
    const answered = service.submit({ repo: 'octo/cat', prompt: 'where is the bug?' });
    service.finish(answered.id, 'complete', { result: { type: 'text', content: 'In auth.ts:\nline 3 compares with ==.' } });
    const drafted = service.submit({ repo: 'octo/cat', prompt: 'fix it' });
    service.finish(drafted.id, 'complete', {
      result: { type: 'pr', content: 'Pull request #4 is open as a draft.', prUrl: 'https://github.com/octo/cat/pull/4', prNumber: 4, draft: true, warning: '`npm test` fails' },
    });
    const failed = service.submit({ repo: 'octo/cat', prompt: 'fix it again' });
    service.finish(failed.id, 'error', { error: 'the sandbox ran out of memory' });
    const env = { TELECODER_SERVER: server.url };

    const answer = await runCli(['status', answered.id], { cwd: project(), env });
    expect(answer.code).toBe(0);
    expect(answer.stdout).toMatch(/\nAnswer:\n {2}In auth\.ts:\n {2}line 3 compares with ==\.\n$/);
    const draft = await runCli(['status', drafted.id], { cwd: project(), env });
    expect(draft.stdout).toMatch(/^PR:\s+https:\/\/github\.com\/octo\/cat\/pull\/4$/m);
    expect(draft.stdout).toMatch(/^Warning:\s+`npm test` fails$/m);
    expect(draft.stdout).toMatch(/\nResult:\n {2}Pull request #4 is open as a draft\.\n$/);
    const error = await runCli(['status', failed.id], { cwd: project(), env });
    expect(error.stdout).toMatch(/^Error:\s+the sandbox ran out of memory$/m);
  });
});
