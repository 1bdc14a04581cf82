import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeCacheService } from '../helpers/fake-cache-service.js';
import { main, type CliIo } from '../../src/cli/main.js';
import type { RepositoryCache } from '../../src/engine/repository-caches.js';
import type { Session } from '../../src/model/session.js';
import { startApiTestServer, type ApiTestServer, type ApiTestServerOptions } from '../helpers/api-test-server.js';
import type { StoreBackedSessionService } from '../helpers/store-backed-session-service.js';

const servers: ApiTestServer[] = [];
const dirs: string[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function start(options: ApiTestServerOptions = {}): Promise<ApiTestServer> {
  const server = await startApiTestServer(options);
  servers.push(server);
  return server;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  requests: Array<{ url: string; headers: Headers }>;
}

async function cli(
  args: string[],
  options: { server?: ApiTestServer; env?: NodeJS.ProcessEnv; cwd?: string; fetch?: typeof fetch } = {},
): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const requests: Run['requests'] = [];
  const baseFetch = options.fetch ?? fetch;
  const io: CliIo = {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env: { ...(options.server ? { TELECODER_SERVER: options.server.url } : {}), ...options.env },
    fetch: (input, init) => {
      requests.push({ url: String(input), headers: new Headers(init?.headers) });
      return baseFetch(input, init);
    },
    ...(options.cwd ? { cwd: options.cwd } : {}),
  };
  const code = await main(['node', 'telecoder', ...args], io);
  return { code, stdout, stderr, requests };
}

/** A scripted engine: runs the session a moment after it is submitted. */
function scriptedRun(outcome: 'pr' | 'error' | 'branch' | 'text') {
  return (session: Session, service: StoreBackedSessionService) => {
    setTimeout(() => {
      service.setStatus(session.id, 'running');
      service.emit(session.id, 'step', 'Step 1/1: fix the bug');
      service.emit(session.id, 'tool', { name: 'run_command', input: { command: 'npm test' } });
      service.emit(session.id, 'output', '> test\n3 passing\n');
      if (outcome === 'error') {
        service.finish(session.id, 'error', { error: 'tests still fail after 3 attempts' });
      } else if (outcome === 'branch') {
        service.finish(session.id, 'complete', {
          result: { type: 'branch', content: 'done', branch: session.branch },
        });
      } else if (outcome === 'text') {
        service.finish(session.id, 'complete', { result: { type: 'text', content: 'The bug is in auth.ts line 3.' } });
      } else {
        service.finish(session.id, 'complete', {
          result: { type: 'pr', content: 'Fixed', prUrl: `https://github.com/${session.repo}/pull/12`, prNumber: 12 },
        });
      }
    }, 30);
  };
}

describe('telecoder run', () => {
  it('streams the session and ends with the PR URL (exit 0)', async () => {
    const server = await start({ onSubmit: scriptedRun('pr') });
    const run = await cli(['run', 'fix the login bug', '--repo', 'octo/cat'], { server });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toBe('Session s0001 started on octo/cat (branch telecoder/s0001)');
    expect(lines).toContain('• status: running');
    expect(lines).toContain('▸ Step 1/1: fix the bug');
    expect(lines).toContain('→ run_command: npm test');
    expect(lines).toContain('  3 passing');
    expect(lines.at(-1)).toBe('PR ready: https://github.com/octo/cat/pull/12');
    expect(server.service.lastRequest).toMatchObject({ repo: 'octo/cat', prompt: 'fix the login bug' });
  });

  it('exits 1 with the reason on stderr when the session fails', async () => {
    const server = await start({ onSubmit: scriptedRun('error') });
    const run = await cli(['run', 'fix it', '--repo', 'octo/cat'], { server });
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('telecoder: session s0001 failed: tests still fail after 3 attempts\n');
    expect(run.stdout).not.toMatch(/PR ready/);
  });

  it('prints the text answer, or the branch for a local repository', async () => {
    const text = await start({ onSubmit: scriptedRun('text') });
    const answer = await cli(['run', 'where is the bug?', '--repo', 'octo/cat'], { server: text });
    expect(answer.code).toBe(0);
    expect(answer.stdout.trim().split('\n').at(-1)).toBe('The bug is in auth.ts line 3.');

    const dir = mkdtempSync(join(tmpdir(), 'telecoder-cli-repo-'));
    dirs.push(dir);
    const local = await start({ onSubmit: scriptedRun('branch') });
    const pushed = await cli(['run', 'fix it', '--repo', dir], { server: local });
    expect(pushed.code).toBe(0);
    expect(pushed.stdout.trim().split('\n').at(-1)).toBe(`Pushed to branch telecoder/s0001 of ${dir}`);
  });

  it('resolves a local repository path to an absolute one', async () => {
    const server = await start({ onSubmit: scriptedRun('branch') });
    const dir = mkdtempSync(join(tmpdir(), 'telecoder-cli-repo-'));
    dirs.push(dir);
    const cwd = join(dir, '..');
    const run = await cli(['run', 'fix it', '--repo', `./${relative(cwd, dir)}`], { server, cwd });
    expect(run.code).toBe(0);
    expect(server.service.lastRequest?.repo).toBe(dir);

    const missing = await cli(['run', 'fix it', '--repo', './no-such-dir'], { server, cwd });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--repo \.\/no-such-dir: no such directory/);
  });

  it('takes a trailing --repo from the prompt text and strips it', async () => {
    const server = await start({ onSubmit: scriptedRun('pr') });
    const run = await cli(['run', 'fix the flaky test --repo octo/dog'], { server });
    expect(run.code).toBe(0);
    expect(server.service.lastRequest).toMatchObject({ repo: 'octo/dog', prompt: 'fix the flaky test' });
    expect(run.stdout).toMatch(/PR ready: https:\/\/github.com\/octo\/dog\/pull\/12/);
  });

  it('exits 2 on usage errors', async () => {
    const server = await start();
    const noRepo = await cli(['run', 'fix it'], { server });
    expect(noRepo.code).toBe(2);
    expect(noRepo.stderr).toMatch(/--repo owner\/name/);
    const noPrompt = await cli(['run'], { server });
    expect(noPrompt.code).toBe(2);
    expect(noPrompt.stderr).toMatch(/missing required argument 'prompt/);
    expect((await cli(['frobnicate'], { server })).code).toBe(2);
    expect(server.service.list()).toEqual([]);
  });

  it('prints the server error for a refused request', async () => {
    const server = await start();
    const run = await cli(['run', 'x'.repeat(10_001), '--repo', 'octo/cat'], { server });
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('telecoder: prompt is longer than 10,000 characters; shorten it or point to a file in the repository\n');
  });

  it('prints JSON lines with --json', async () => {
    const server = await start({ onSubmit: scriptedRun('pr') });
    const run = await cli(['run', 'fix it', '--repo', 'octo/cat', '--json'], { server });
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n').map((line) => JSON.parse(line));
    expect(lines[0]).toEqual({ id: 's0001', branch: 'telecoder/s0001', mode: 'task' });
    const events = lines.slice(1, -1);
    expect(events.map((e) => e.type)).toEqual(server.service.events('s0001').map((e) => e.type));
    expect(events.at(-1)).toMatchObject({ type: 'done', session_id: 's0001' });
    expect(lines.at(-1)).toMatchObject({ id: 's0001', status: 'complete', pr_url: 'https://github.com/octo/cat/pull/12' });
  });

  it('reconnects with Last-Event-ID when the stream drops, without repeating events', async () => {
    const server = await start({ onSubmit: scriptedRun('pr') });
    let dropped = false;
    // The first event stream is cut after its first event, as a flaky network would.
    const flakyFetch: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (dropped || !String(input).endsWith('/events') || !response.body) return response;
      dropped = true;
      const reader = response.body.getReader();
      let text = '';
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          const chunk = await reader.read();
          if (chunk.done) return controller.close();
          text += new TextDecoder().decode(chunk.value);
          const end = text.indexOf('\n\n');
          if (end === -1) return;
          controller.enqueue(new TextEncoder().encode(text.slice(0, end + 2)));
          await reader.cancel();
          controller.error(new TypeError('terminated'));
        },
      });
      return new Response(body, { status: response.status, headers: response.headers });
    };
    const run = await cli(['run', 'fix it', '--repo', 'octo/cat', '--json'], { server, fetch: flakyFetch });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const streamRequests = run.requests.filter((r) => r.url.endsWith('/events'));
    expect(streamRequests.length).toBe(2);
    const first = server.service.events('s0001')[0]!;
    expect(streamRequests[1]!.headers.get('last-event-id')).toBe(String(first.id));
    const ids = run.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
      .filter((line) => typeof line.session_id === 'string')
      .map((event) => event.id);
    expect(ids).toEqual(server.service.events('s0001').map((e) => e.id));
  });
});

describe('telecoder list / status / logs / stop', () => {
  async function seeded() {
    const server = await start();
    const { service } = server;
    const done = service.submit({ repo: 'octo/cat', prompt: 'first task with a rather long prompt that will not fit in the column' });
    service.setStatus(done.id, 'running');
    service.emit(done.id, 'tool', { name: 'read_file', input: { path: 'src/a.ts' } });
    service.finish(done.id, 'complete', {
      result: { type: 'pr', content: 'ok', prUrl: 'https://github.com/octo/cat/pull/3', prNumber: 3 },
    });
    const running = service.submit({ repo: 'octo/dog', prompt: 'second' });
    service.setStatus(running.id, 'running');
    service.emit(running.id, 'output', 'working on it');
    return { server, done, running };
  }

  it('lists sessions as a table and as JSON', async () => {
    const { server } = await seeded();
    const table = await cli(['list'], { server });
    expect(table.code).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ID\s+REPO\s+STATUS\s+FROM\s+PROMPT\s+PR$/);
    expect(lines[1]).toMatch(/^s0002\s+octo\/dog\s+running\s+test\s+second\s+-$/);
    expect(lines[2]).toMatch(/^s0001\s+octo\/cat\s+complete\s+test\s+first task with a rather long prompt that will…\s+https:\/\/github.com\/octo\/cat\/pull\/3$/);

    const json = await cli(['list', '--json'], { server });
    expect(JSON.parse(json.stdout).map((s: { id: string }) => s.id)).toEqual(['s0002', 's0001']);
    const limited = await cli(['list', '--json', '--limit', '1'], { server });
    expect(JSON.parse(limited.stdout)).toHaveLength(1);
  });

  it('shows one session with status', async () => {
    const { server } = await seeded();
    const human = await cli(['status', 's0001'], { server });
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^Status:\s+complete$/m);
    expect(human.stdout).toMatch(/^PR:\s+https:\/\/github.com\/octo\/cat\/pull\/3$/m);
    const json = await cli(['status', 's0001', '--json'], { server });
    expect(JSON.parse(json.stdout)).toMatchObject({ id: 's0001', status: 'complete', pr_number: 3 });
    const missing = await cli(['status', 'nope'], { server });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('telecoder: no session with id "nope"; list sessions with `telecoder list`\n');
  });

  it('prints stored events with logs, and stops at the end of the replay for a running session', async () => {
    const { server, running } = await seeded();
    const finished = await cli(['logs', 's0001'], { server });
    expect(finished.code).toBe(0);
    expect(finished.stdout).toContain('→ read_file: src/a.ts');
    expect(finished.stdout).toContain('• status: complete');

    const live = await cli(['logs', running.id, '--json'], { server });
    expect(live.code).toBe(0);
    const events = live.stdout.trim().split('\n').map((line) => JSON.parse(line));
    expect(events.map((e) => e.id)).toEqual(server.service.events(running.id).map((e) => e.id));
    expect(events.at(-1)).toMatchObject({ type: 'output', data: 'working on it' });
  });

  it('follows a running session until it is done with logs --follow', async () => {
    const { server, running } = await seeded();
    const following = cli(['logs', running.id, '--follow'], { server });
    setTimeout(() => {
      server.service.emit(running.id, 'output', 'almost there');
      server.service.finish(running.id, 'complete', { result: { type: 'text', content: 'nothing to change' } });
    }, 100);
    const run = await following;
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('  working on it');
    expect(run.stdout).toContain('  almost there');
    expect(run.stdout.trim().split('\n').at(-1)).toBe('• status: complete');
  });

  it('stops a session', async () => {
    const { server, running } = await seeded();
    const run = await cli(['stop', running.id], { server });
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`Session ${running.id} is stopped\n`);
    expect(server.service.get(running.id).status).toBe('stopped');
  });
});

describe('server address and token', () => {
  it('says in one line how to fix an unreachable server', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const address = probe.address() as { port: number };
        probe.close(() => resolve(address.port));
      });
    });
    const url = `http://127.0.0.1:${port}`;
    const run = await cli(['--server', url, 'list']);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      `telecoder: cannot reach the TeleCoder server at ${url} — start it with \`telecoder serve\` or pass --server\n`,
    );
  });

  it('sends the token from --token or TELECODER_API_TOKEN', async () => {
    const server = await start({ apiToken: 'cli-secret' });
    const refused = await cli(['list'], { server });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/requires an API token/);
    expect((await cli(['list', '--token', 'cli-secret'], { server })).code).toBe(0);
    expect((await cli(['list'], { server, env: { TELECODER_API_TOKEN: 'cli-secret' } })).code).toBe(0);
    expect((await cli(['--server', server.url, 'list'], { env: { TELECODER_API_TOKEN: 'cli-secret' } })).code).toBe(0);
  });
});


describe('telecoder cache', () => {
  async function withCaches() {
    const caches = new FakeCacheService([
      {
        repo: '/srv/repos/app',
        mirror: { path: '/data/mirrors/aaa.git', bytes: 2048, updatedAt: '2025-01-31T14:05:09.000Z' },
        dependencies: null,
      },
      {
        repo: 'octo/cat',
        mirror: { path: '/data/mirrors/bbb.git', bytes: 1536, updatedAt: '2025-02-01T08:00:00.000Z' },
        dependencies: { name: 'telecoder-cache-bbb', bytes: 125_829_120 },
      },
      { repo: 'octo/dog', mirror: null, dependencies: { name: 'telecoder-cache-ccc', bytes: null } },
    ]);
    const server = await start({ caches });
    return { server, caches };
  }

  it('lists the caches as a table with readable sizes', async () => {
    const { server } = await withCaches();
    const run = await cli(['cache', 'list'], { server });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      [
        'REPO            MIRROR  DEPENDENCIES  UPDATED',
        '/srv/repos/app    2 KB             -  2025-01-31 14:05 UTC',
        'octo/cat        1.5 KB        120 MB  2025-02-01 08:00 UTC',
        'octo/dog             -             ?  -',
        '',
      ].join('\n'),
    );
    expect(run.requests.map((r) => r.url)).toEqual([`${server.url}/api/caches`]);
  });

  it('lists the caches as JSON, and says so when there are none', async () => {
    const { server, caches } = await withCaches();
    const json = await cli(['cache', 'list', '--json'], { server });
    expect(json.code).toBe(0);
    const listed = JSON.parse(json.stdout);
    expect(listed.map((cache: { repo: string }) => cache.repo)).toEqual(['/srv/repos/app', 'octo/cat', 'octo/dog']);
    expect(listed[1]).toEqual({
      repo: 'octo/cat',
      mirror: { path: '/data/mirrors/bbb.git', bytes: 1536, updated_at: '2025-02-01T08:00:00.000Z' },
      dependencies: { name: 'telecoder-cache-bbb', bytes: 125_829_120 },
    });

    caches.caches = [];
    const empty = await cli(['cache', 'list'], { server });
    expect(empty.code).toBe(0);
    expect(empty.stdout).toBe("No repository caches yet: a repository's first session makes them\n");
  });

  it('prunes every repository without --repo', async () => {
    const { server, caches } = await withCaches();
    const run = await cli(['cache', 'prune'], { server });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('Pruned /srv/repos/app\nPruned octo/cat\nPruned octo/dog\n');
    expect(caches.pruneCalls).toEqual([undefined]);
    expect(caches.caches).toEqual([]);

    const nothing = await cli(['cache', 'prune'], { server });
    expect(nothing.code).toBe(0);
    expect(nothing.stdout).toBe('No repository caches to prune\n');
  });

  it('prunes the repositories named with --repo, resolving local paths, and says which had no caches', async () => {
    const { server, caches } = await withCaches();
    const run = await cli(['cache', 'prune', '--repo', 'octo/cat', '--repo', './app', '--repo', 'octo/nope'], {
      server,
      cwd: '/srv/repos',
    });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(caches.pruneCalls).toEqual([['octo/cat', '/srv/repos/app', 'octo/nope']]);
    expect(run.stdout.trim().split('\n')).toEqual([
      'Pruned /srv/repos/app',
      'Pruned octo/cat',
      'No caches for octo/nope; `telecoder cache list` shows the repositories that have some',
    ]);
    expect(caches.caches.map((cache) => cache.repo)).toEqual(['octo/dog']);
  });

  it('exits 1 and says why when a repository\'s caches were kept', async () => {
    const { server, caches } = await withCaches();
    caches.busy.add('octo/dog');
    const one = await cli(['cache', 'prune', '--repo', 'octo/dog'], { server });
    expect(one.code).toBe(1);
    expect(one.stdout).toBe('Kept octo/dog: a session on it is running; prune it when that session has ended\n');
    expect(one.stderr).toBe('telecoder: the caches of 1 repository were kept (see why above)\n');
    expect(caches.caches).toHaveLength(3);

    const all = await cli(['cache', 'prune', '--json'], { server });
    expect(all.code).toBe(1);
    expect(JSON.parse(all.stdout)).toEqual({
      pruned: ['/srv/repos/app', 'octo/cat'],
      kept: [{ repo: 'octo/dog', reason: 'a session on it is running; prune it when that session has ended' }],
    });
  });

  it('prints the server\'s refusal: a bad repository name, or a server without caches', async () => {
    const { server, caches } = await withCaches();
    const bad = await cli(['cache', 'prune', '--repo', 'octo'], { server });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^telecoder: repo must be owner\/name/);
    expect(caches.pruneCalls).toEqual([]);

    const bare = await start();
    for (const args of [['cache', 'list'], ['cache', 'prune']]) {
      const run = await cli(args, { server: bare });
      expect(run.code, args.join(' ')).toBe(1);
      expect(run.stderr).toBe(
        'telecoder: this TeleCoder server does not manage repository caches (it was started without a cache service)\n',
      );
    }
  });

  it('exits 2 for a cache command that does not exist', async () => {
    const { server, caches } = await withCaches();
    const run = await cli(['cache', 'purge'], { server });
    expect(run.code).toBe(2);
    expect(caches.pruneCalls).toEqual([]);
  });
});
