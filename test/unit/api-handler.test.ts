import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FakeCacheService } from '../helpers/fake-cache-service.js';
import type { RepositoryCache } from '../../src/engine/repository-caches.js';
import { TeleCoderError } from '../../src/errors.js';
import type { SessionResult } from '../../src/model/session.js';
import { startApiTestServer, type ApiTestServer, type ApiTestServerOptions } from '../helpers/api-test-server.js';
import { openSse } from '../helpers/sse-client.js';

// Pass-through spy: lets the test see that the token comparison is the constant-time one.
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) };
});
const crypto = await import('node:crypto');

const MiB = 1024 * 1024;
const servers: ApiTestServer[] = [];

async function start(options: ApiTestServerOptions = {}): Promise<ApiTestServer> {
  const server = await startApiTestServer(options);
  servers.push(server);
  return server;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function call(
  server: ApiTestServer,
  method: string,
  path: string,
  options: { body?: unknown; raw?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Headers; body: any; text: string }> {
  const headers: Record<string, string> = { ...options.headers };
  let body: string | undefined = options.raw;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const response = await fetch(`${server.url}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: response.status, headers: response.headers, body: parsed, text };
}

function capturingLogger() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      lines.push(String(chunk));
      callback();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

const PR_RESULT: SessionResult = { type: 'pr', content: 'Fixed it', prUrl: 'https://github.com/octo/cat/pull/5', prNumber: 5 };

describe('API routes', () => {
  it('creates a session (201) and shows it in snake_case', async () => {
    const server = await start();
    const created = await call(server, 'POST', '/api/sessions', {
      body: { repo: 'octo/cat', prompt: 'fix the bug', agent: 'builtin', model: 'm-1' },
    });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ id: 's0001', branch: 'telecoder/s0001', mode: 'task' });
    expect(server.service.lastRequest).toEqual({
      repo: 'octo/cat',
      prompt: 'fix the bug',
      agent: 'builtin',
      model: 'm-1',
      origin: { kind: 'api' },
    });

    server.service.finish('s0001', 'complete', { result: PR_RESULT });
    const shown = await call(server, 'GET', '/api/sessions/s0001');
    expect(shown.status).toBe(200);
    expect(shown.headers.get('content-type')).toMatch(/^application\/json/);
    expect(Object.keys(shown.body).sort()).toEqual(
      [
        'id', 'repo', 'prompt', 'mode', 'status', 'branch', 'agent', 'model', 'pr_url', 'pr_number', 'result',
        'error', 'usage', 'origin', 'created_at', 'updated_at',
      ].sort(),
    );
    expect(shown.body).toMatchObject({
      id: 's0001',
      repo: 'octo/cat',
      prompt: 'fix the bug',
      mode: 'task',
      status: 'complete',
      branch: 'telecoder/s0001',
      agent: 'builtin',
      model: 'm-1',
      pr_url: 'https://github.com/octo/cat/pull/5',
      pr_number: 5,
      result: { type: 'pr', content: 'Fixed it', pr_url: 'https://github.com/octo/cat/pull/5', pr_number: 5 },
      error: null,
      usage: { input_tokens: 0, output_tokens: 0, turns: 0 },
      origin: { kind: 'api' },
    });
    expect(typeof shown.body.created_at).toBe('string');
  });

  it('lists sessions newest first and honours ?limit', async () => {
    const server = await start();
    for (const prompt of ['first', 'second', 'third']) {
      expect((await call(server, 'POST', '/api/sessions', { body: { repo: 'octo/cat', prompt } })).status).toBe(201);
    }
    const all = await call(server, 'GET', '/api/sessions');
    expect(all.status).toBe(200);
    expect(all.body.map((s: { prompt: string }) => s.prompt)).toEqual(['third', 'second', 'first']);
    const limited = await call(server, 'GET', '/api/sessions?limit=2');
    expect(limited.body.map((s: { prompt: string }) => s.prompt)).toEqual(['third', 'second']);
    const bad = await call(server, 'GET', '/api/sessions?limit=many');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/limit must be a whole number/);
  });

  it('answers 404 with JSON for an unknown session and an unknown API route', async () => {
    const server = await start();
    const session = await call(server, 'GET', '/api/sessions/nope');
    expect(session.status).toBe(404);
    expect(session.body.error).toMatch(/no session with id "nope"/);
    for (const path of ['/api/sessions/nope/events', '/api/sessions/nope/messages']) {
      expect((await call(server, 'GET', path)).status).toBe(404);
    }
    const route = await call(server, 'GET', '/api/whatever');
    expect(route.status).toBe(404);
    expect(route.body.error).toMatch(/no API route GET \/api\/whatever/);
  });

  it('answers 405 with an Allow header for a wrong method on a known route', async () => {
    const server = await start();
    const collection = await call(server, 'DELETE', '/api/sessions');
    expect(collection.status).toBe(405);
    expect(collection.headers.get('allow')).toBe('GET, POST');
    expect(collection.body.error).toMatch(/DELETE is not allowed/);
    const stop = await call(server, 'GET', '/api/sessions/x/stop');
    expect(stop.status).toBe(405);
    expect(stop.headers.get('allow')).toBe('POST');
    const health = await call(server, 'POST', '/health');
    expect(health.status).toBe(405);
    expect(health.headers.get('allow')).toBe('GET');
  });

  it('leaves requests outside /api/ and /health to the next handler', async () => {
    const server = await start({ apiToken: 'secret-token' });
    const other = await call(server, 'GET', '/app/setup');
    expect(other.status).toBe(404);
    expect(other.text).toBe('not handled');
    expect((await call(server, 'GET', '/apiary')).text).toBe('not handled');
  });

  it('answers /health without a token', async () => {
    const server = await start({ apiToken: 'secret-token' });
    const health = await call(server, 'GET', '/health');
    expect(health.status).toBe(200);
    expect(health.body).toEqual({ status: 'ok' });
  });

  it('validates the new-session body', async () => {
    const server = await start();
    const post = (body: unknown) => call(server, 'POST', '/api/sessions', { body });

    const long = await post({ repo: 'octo/cat', prompt: 'x'.repeat(10_001) });
    expect(long.status).toBe(400);
    expect(long.body.error).toMatch(/prompt is longer than 10,000 characters/);
    expect((await post({ repo: 'octo/cat', prompt: 'x'.repeat(10_000) })).status).toBe(201);

    for (const repo of ['octo', 'octo/cat/extra', 'octo cat/x', 'https://gitlab.com/octo/cat', 'https://github.com/octo', 'relative/../x y', '']) {
      const refused = await post({ repo, prompt: 'do it' });
      expect(refused.status, repo).toBe(400);
      expect(refused.body.error).toMatch(/repo/);
    }
    const missing = await post({ repo: 'octo/cat' });
    expect(missing.status).toBe(400);
    expect(missing.body.error).toMatch(/prompt is required/);
    expect((await post({ repo: 'octo/cat', prompt: '   ' })).status).toBe(400);
    expect((await post({ repo: 'octo/cat', prompt: 'x', mode: 'batch' })).body.error).toMatch(/mode must be "task" or "chat"/);
    expect((await post(['octo/cat'])).status).toBe(400);
    expect((await call(server, 'POST', '/api/sessions')).status).toBe(400);
  });

  it('says a field of the wrong type must be a string, rather than that it is missing', async () => {
    const server = await start();
    const error = async (body: unknown) => {
      const answer = await call(server, 'POST', '/api/sessions', { body });
      expect(answer.status, JSON.stringify(body)).toBe(400);
      return answer.body.error as string;
    };
    expect(await error({ repo: 'octo/cat', prompt: 5 })).toBe('prompt must be a string (got a number): say what TeleCoder should do');
    expect(await error({ repo: 'octo/cat', prompt: ['fix', 'it'] })).toMatch(/^prompt must be a string \(got a list\)/);
    expect(await error({ repo: 'octo/cat', prompt: null })).toMatch(/^prompt must be a string \(got null\)/);
    expect(await error({ repo: 42, prompt: 'x' })).toMatch(/^repo must be a string \(got a number\): owner\/name/);
    expect(await error({ repo: { owner: 'octo' }, prompt: 'x' })).toMatch(/^repo must be a string \(got an object\)/);
    expect(await error({ repo: 'octo/cat', prompt: 'x', mode: 1 })).toBe('mode must be "task" or "chat"');
    expect(await error({ repo: 'octo/cat', prompt: 'x', agent: 1 })).toBe('agent must be a string');
    expect(await error({ repo: 'octo/cat', prompt: 'x', model: false })).toBe('model must be a string');
    expect(await error({ prompt: 'x' })).toMatch(/^repo is required: /);
    const content = await call(server, 'POST', '/api/sessions/any/messages', { body: { content: 7 } });
    expect(content.body.error).toBe('content must be a string (got a number): the message for the chat session');
  });

  it('takes a pasted github.com URL (https, .git, ssh, trailing slash) as the owner/name it names', async () => {
    const server = await start();
    for (const repo of [
      'https://github.com/octo/cat',
      'https://github.com/octo/cat.git',
      'https://github.com/octo/cat/',
      'http://www.github.com/octo/cat',
      'git@github.com:octo/cat.git',
      'ssh://git@github.com/octo/cat.git',
      'github.com/octo/cat',
      'octo/cat/',
      '  https://github.com/octo/cat.git  ',
    ]) {
      const created = await call(server, 'POST', '/api/sessions', { body: { repo, prompt: 'do it' } });
      expect(created.status, repo).toBe(201);
      expect(server.service.lastRequest?.repo, repo).toBe('octo/cat');
    }
  });

  // Whether local repositories are allowed is the engine's decision (TELECODER_ALLOW_LOCAL_REPOS),
  // tested through the real server in test/e2e/local-repositories-setting.test.ts.
  it('accepts absolute paths and file:// URLs, leaving the decision to the service', async () => {
    const server = await start();
    const path = await call(server, 'POST', '/api/sessions', { body: { repo: '/srv/repos/app', prompt: 'do it' } });
    expect(path.status).toBe(201);
    expect(server.service.lastRequest?.repo).toBe('/srv/repos/app');

    const url = await call(server, 'POST', '/api/sessions', { body: { repo: 'file:///srv/repos/app', prompt: 'do it' } });
    expect(url.status).toBe(201);
    expect(server.service.lastRequest?.repo).toBe('file:///srv/repos/app');
  });

  it('refuses malformed JSON (400) and a body that is not JSON (415)', async () => {
    const server = await start();
    const malformed = await call(server, 'POST', '/api/sessions', {
      raw: '{"repo": "octo/cat", ',
      headers: { 'content-type': 'application/json' },
    });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error).toMatch(/not valid JSON/);

    const text = await call(server, 'POST', '/api/sessions', {
      raw: 'repo=octo/cat&prompt=x',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(text.status).toBe(415);
    expect(text.body.error).toMatch(/Content-Type: application\/json/);
    expect(server.service.list()).toEqual([]);

    const task = await call(server, 'POST', '/api/sessions', { body: { repo: 'octo/cat', prompt: 'x' } });
    const stop = await call(server, 'POST', `/api/sessions/${task.body.id}/stop`, {
      raw: 'now please',
      headers: { 'content-type': 'text/plain' },
    });
    expect(stop.status).toBe(415);
    expect(server.service.get(task.body.id).status).toBe('pending');
  });

  it('handles chat messages (202), pull requests (201) and stop (200)', async () => {
    const server = await start();
    const chat = await call(server, 'POST', '/api/sessions', { body: { repo: 'octo/cat', prompt: 'hi', mode: 'chat' } });
    expect(chat.body.mode).toBe('chat');
    const id = chat.body.id as string;

    const sent = await call(server, 'POST', `/api/sessions/${id}/messages`, { body: { content: 'add a test' } });
    expect(sent.status).toBe(202);
    expect(sent.body).toMatchObject({ session_id: id, role: 'user', content: 'add a test' });
    expect(typeof sent.body.id).toBe('number');
    const listed = await call(server, 'GET', `/api/sessions/${id}/messages`);
    expect(listed.status).toBe(200);
    expect(listed.body).toEqual([sent.body]);
    const tooLong = await call(server, 'POST', `/api/sessions/${id}/messages`, { body: { content: 'y'.repeat(10_001) } });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error).toMatch(/content is longer than 10,000/);

    const pr = await call(server, 'POST', `/api/sessions/${id}/pr`);
    expect(pr.status).toBe(201);
    expect(pr.body).toEqual({ url: 'https://github.com/octo/cat/pull/7', number: 7, branch: `telecoder/${id}` });

    const stopped = await call(server, 'POST', `/api/sessions/${id}/stop`);
    expect(stopped.status).toBe(200);
    expect(stopped.body).toMatchObject({ id, status: 'stopped', error: 'stopped by request' });
  });

  it('passes TeleCoderError statuses through and hides anything else behind a logged 500', async () => {
    const { logger, lines } = capturingLogger();
    const server = await start({ logger });
    const task = await call(server, 'POST', '/api/sessions', { body: { repo: 'octo/cat', prompt: 'x' } });
    const conflict = await call(server, 'POST', `/api/sessions/${task.body.id}/messages`, { body: { content: 'more' } });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error).toMatch(/messages can only be sent to chat sessions/);

    server.service.failNext = new TeleCoderError('the server is shutting down; try again in a moment', 503);
    const busy = await call(server, 'POST', '/api/sessions', { body: { repo: 'octo/cat', prompt: 'x' } });
    expect(busy.status).toBe(503);
    expect(busy.body).toEqual({ error: 'the server is shutting down; try again in a moment' });

    server.service.failNext = new Error('database exploded at /secret/path.ts:12');
    const crashed = await call(server, 'GET', '/api/sessions');
    expect(crashed.status).toBe(500);
    expect(crashed.body).toEqual({ error: 'internal error in the TeleCoder server; the details are in its log' });
    expect(crashed.text).not.toMatch(/secret|exploded|at /);
    expect(lines.join('')).toMatch(/database exploded/);
  });
});

describe('request body limit', () => {
  function rawPost(
    server: ApiTestServer,
    headers: Record<string, string>,
  ): { req: ReturnType<typeof httpRequest>; response: Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> } {
    const req = httpRequest({ host: '127.0.0.1', port: server.port, method: 'POST', path: '/api/sessions', headers });
    const response = new Promise<{ status: number; headers: IncomingHttpHeaders; body: string }>((resolve, reject) => {
      req.on('response', (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      });
      // The server closes after its 413: writing the rest may fail, which is the point.
      req.on('error', (error: NodeJS.ErrnoException) => {
        if (!['EPIPE', 'ECONNRESET'].includes(error.code ?? '')) reject(error);
      });
    });
    return { req, response };
  }

  it('refuses a declared 2 MiB body with 413 before reading it', async () => {
    const server = await start();
    const { req, response } = rawPost(server, { 'content-type': 'application/json', 'content-length': String(2 * MiB) });
    req.flushHeaders();
    // Not one byte of the body is sent: the answer must come from the headers alone.
    const answer = await response;
    expect(answer.status).toBe(413);
    expect(answer.headers.connection).toBe('close');
    expect(JSON.parse(answer.body).error).toMatch(/larger than 1048576 bytes/);
    req.destroy();
    expect(server.service.list()).toEqual([]);
  });

  it('stops reading a streamed 2 MiB body once it passes 1 MiB', async () => {
    const server = await start();
    const { req, response } = rawPost(server, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    const chunk = Buffer.alloc(64 * 1024, 'a');
    let sent = 0;
    req.write('{"repo":"octo/cat","prompt":"');
    // Send just over 1 MiB and hold the second MiB back until the server has answered.
    while (sent <= MiB) {
      req.write(chunk);
      sent += chunk.length;
    }
    const answer = await response;
    expect(answer.status).toBe(413);
    expect(sent).toBeLessThan(2 * MiB);
    while (sent < 2 * MiB && !req.destroyed) {
      req.write(chunk);
      sent += chunk.length;
    }
    req.destroy();
    expect(server.service.list()).toEqual([]);
  });

  it('accepts a body just under the limit', async () => {
    const server = await start();
    const padding = ' '.repeat(MiB - 200);
    const ok = await call(server, 'POST', '/api/sessions', {
      raw: `{"repo":"octo/cat",${padding}"prompt":"small"}`,
      headers: { 'content-type': 'application/json' },
    });
    expect(ok.status).toBe(201);
  });
});

describe('authentication', () => {
  it('requires the bearer token on every /api/ route when one is set', async () => {
    const server = await start({ apiToken: 'secret-token' });
    const routes: Array<[string, string]> = [
      ['GET', '/api/sessions'],
      ['POST', '/api/sessions'],
      ['GET', '/api/sessions/s0001'],
      ['GET', '/api/sessions/s0001/events'],
      ['POST', '/api/sessions/s0001/stop'],
      ['GET', '/api/caches'],
      ['POST', '/api/caches/prune'],
      ['GET', '/api/unknown'],
    ];
    for (const [method, path] of routes) {
      const refused = await call(server, method, path);
      expect(refused.status, `${method} ${path}`).toBe(401);
      expect(refused.headers.get('www-authenticate')).toBe('Bearer realm="telecoder"');
      expect(refused.body.error).toMatch(/Authorization: Bearer/);
    }
    for (const authorization of ['Bearer wrong', 'Bearer secret-token-longer', 'Basic secret-token', 'secret-token', 'Bearer ']) {
      expect((await call(server, 'GET', '/api/sessions', { headers: { authorization } })).status, authorization).toBe(401);
    }
    const ok = await call(server, 'GET', '/api/sessions', { headers: { authorization: 'Bearer secret-token' } });
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual([]);
  });

  it('compares tokens in constant time, whatever the length of the guess', async () => {
    const server = await start({ apiToken: 'secret-token' });
    const spy = vi.mocked(crypto.timingSafeEqual);
    spy.mockClear();
    expect((await call(server, 'GET', '/api/sessions', { headers: { authorization: 'Bearer x' } })).status).toBe(401);
    expect(spy).toHaveBeenCalledTimes(1);
    const [given, expected] = spy.mock.calls[0] as [Buffer, Buffer];
    // Hashes of both sides: equal lengths, so a short guess takes as long as a long one.
    expect(given.length).toBe(32);
    expect(expected.length).toBe(32);
  });

  it('needs no token when none is configured', async () => {
    const server = await start();
    expect((await call(server, 'GET', '/api/sessions')).status).toBe(200);
  });
});

describe('event stream (SSE)', () => {
  async function sessionWithEvents(server: ApiTestServer) {
    const created = await call(server, 'POST', '/api/sessions', { body: { repo: 'octo/cat', prompt: 'fix it' } });
    const id = created.body.id as string;
    server.service.setStatus(id, 'running');
    server.service.emit(id, 'step', 'Step 1/1: fix it');
    return id;
  }

  const idsOf = (messages: Array<{ id?: string | undefined }>) => messages.map((m) => Number(m.id));

  it('replays stored events, then streams live ones in order, and ends after done', async () => {
    const server = await start();
    const id = await sessionWithEvents(server);
    const client = await openSse(`${server.url}/api/sessions/${id}/events`);
    expect(client.status).toBe(200);
    expect(client.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(client.headers.get('cache-control')).toMatch(/no-cache/);
    expect(client.headers.get('x-accel-buffering')).toBe('no');

    await client.waitFor(() => client.comments.includes('replay-complete'));
    expect(client.messages.map((m) => m.event)).toEqual(['status', 'status', 'step']);
    server.service.emit(id, 'tool', { name: 'run_command', input: { command: 'npm test' } });
    server.service.emit(id, 'output', 'all tests pass');
    server.service.finish(id, 'complete', { result: PR_RESULT });
    await client.ended;

    expect(client.messages.map((m) => m.event)).toEqual([
      'status', 'status', 'step', 'tool', 'output', 'result', 'status', 'done',
    ]);
    const ids = idsOf(client.messages);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
    const stored = server.service.events(id);
    expect(ids).toEqual(stored.map((e) => e.id));
    const result = JSON.parse(client.messages[5]!.data);
    expect(result).toMatchObject({
      id: ids[5],
      session_id: id,
      type: 'result',
      data: { type: 'pr', content: 'Fixed it', pr_url: 'https://github.com/octo/cat/pull/5', pr_number: 5 },
    });
    expect(typeof result.created_at).toBe('string');
    expect(JSON.parse(client.messages[7]!.data).data).toMatchObject({ status: 'complete', error: null });
    expect(server.service.subscriberCount(id)).toBe(0);
  });

  it('resumes after Last-Event-ID (or ?after=) with nothing doubled or lost', async () => {
    const server = await start();
    const id = await sessionWithEvents(server);
    const stored = server.service.events(id);
    const resumeFrom = stored[1]!.id;

    const client = await openSse(`${server.url}/api/sessions/${id}/events?after=0`, { 'Last-Event-ID': String(resumeFrom) });
    await client.waitFor(() => client.comments.includes('replay-complete'));
    expect(idsOf(client.messages)).toEqual([stored[2]!.id]);
    server.service.finish(id, 'error', { error: 'tests failed' });
    await client.ended;
    const all = server.service.events(id);
    expect(idsOf(client.messages)).toEqual(all.filter((e) => e.id > resumeFrom).map((e) => e.id));

    const byQuery = await openSse(`${server.url}/api/sessions/${id}/events?after=${resumeFrom}`);
    await byQuery.ended;
    expect(idsOf(byQuery.messages)).toEqual(all.filter((e) => e.id > resumeFrom).map((e) => e.id));

    const bad = await call(server, 'GET', `/api/sessions/${id}/events`, { headers: { 'Last-Event-ID': 'abc' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/Last-Event-ID must be an event id/);
  });

  // Events appended while a client's replay is written, each delivered once: tested with a real
  // session's events in test/e2e/sse-real-session.test.ts (clients joining a busy session).

  it('sends heartbeats at heartbeatMs', async () => {
    const server = await start({ heartbeatMs: 40 });
    const id = await sessionWithEvents(server);
    const client = await openSse(`${server.url}/api/sessions/${id}/events`);
    await client.waitFor(() => client.comments.filter((c) => c === 'ping').length >= 2, 5000);
    client.close();
    await vi.waitFor(() => expect(server.service.subscriberCount(id)).toBe(0));
  });

  it('ends at once when resuming after the done event', async () => {
    const server = await start();
    const id = await sessionWithEvents(server);
    server.service.finish(id, 'complete', { result: PR_RESULT });
    const done = server.service.events(id).at(-1)!;
    expect(done.type).toBe('done');
    const client = await openSse(`${server.url}/api/sessions/${id}/events`, { 'Last-Event-ID': String(done.id) });
    await client.ended;
    expect(client.messages).toEqual([]);
  });

  it('releases the subscription when the client goes away', async () => {
    const server = await start({ heartbeatMs: 20 });
    const id = await sessionWithEvents(server);
    const client = await openSse(`${server.url}/api/sessions/${id}/events`);
    await client.waitFor(() => client.comments.includes('replay-complete'));
    expect(server.service.subscriberCount(id)).toBe(1);
    client.close();
    await vi.waitFor(() => expect(server.service.subscriberCount(id)).toBe(0));
  });

  // A client that never reads is cut off once 1 MiB is queued for it: tested against the real
  // server and a real session's events in test/e2e/sse-real-session.test.ts.
});


function sampleCaches(): RepositoryCache[] {
  return [
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
  ];
}

describe('repository caches', () => {
  it('lists every repository\'s caches in snake_case', async () => {
    const caches = new FakeCacheService(sampleCaches());
    const server = await start({ caches });
    const listed = await call(server, 'GET', '/api/caches');
    expect(listed.status).toBe(200);
    expect(listed.headers.get('content-type')).toMatch(/^application\/json/);
    expect(listed.body).toEqual([
      {
        repo: '/srv/repos/app',
        mirror: { path: '/data/mirrors/aaa.git', bytes: 2048, updated_at: '2025-01-31T14:05:09.000Z' },
        dependencies: null,
      },
      {
        repo: 'octo/cat',
        mirror: { path: '/data/mirrors/bbb.git', bytes: 1536, updated_at: '2025-02-01T08:00:00.000Z' },
        dependencies: { name: 'telecoder-cache-bbb', bytes: 125_829_120 },
      },
      { repo: 'octo/dog', mirror: null, dependencies: { name: 'telecoder-cache-ccc', bytes: null } },
    ]);

    caches.caches = [];
    const empty = await call(server, 'GET', '/api/caches');
    expect(empty.status).toBe(200);
    expect(empty.body).toEqual([]);
  });

  it('prunes every repository when there is no body (or an empty object), keeping busy ones', async () => {
    const caches = new FakeCacheService(sampleCaches());
    caches.busy.add('octo/dog');
    const server = await start({ caches });
    const pruned = await call(server, 'POST', '/api/caches/prune');
    expect(pruned.status).toBe(200);
    expect(pruned.body).toEqual({
      pruned: ['/srv/repos/app', 'octo/cat'],
      kept: [{ repo: 'octo/dog', reason: 'a session on it is running; prune it when that session has ended' }],
    });
    expect(caches.pruneCalls).toEqual([undefined]);
    expect((await call(server, 'GET', '/api/caches')).body.map((cache: { repo: string }) => cache.repo)).toEqual(['octo/dog']);

    const again = await call(server, 'POST', '/api/caches/prune', { body: {} });
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ pruned: [], kept: [{ repo: 'octo/dog', reason: 'a session on it is running; prune it when that session has ended' }] });
    expect(caches.pruneCalls).toEqual([undefined, undefined]);
  });

  it('prunes only the repositories named, taking a file:// URL as its path', async () => {
    const caches = new FakeCacheService(sampleCaches());
    const server = await start({ caches });
    const pruned = await call(server, 'POST', '/api/caches/prune', {
      body: { repos: ['octo/cat', 'file:///srv/repos/app/', 'octo/cat', 'octo/unknown'] },
    });
    expect(pruned.status).toBe(200);
    expect(caches.pruneCalls).toEqual([['octo/cat', '/srv/repos/app', 'octo/unknown']]);
    expect(pruned.body).toEqual({ pruned: ['/srv/repos/app', 'octo/cat'], kept: [] });
    expect(caches.caches.map((cache) => cache.repo)).toEqual(['octo/dog']);
  });

  it('refuses a bad prune body with 400 (415 when not JSON) and prunes nothing', async () => {
    const caches = new FakeCacheService(sampleCaches());
    const server = await start({ caches });
    const post = (body: unknown) => call(server, 'POST', '/api/caches/prune', { body });

    const cases: Array<[unknown, RegExp]> = [
      [{ repos: 'octo/cat' }, /repos must be a list of repositories/],
      [{ repos: [] }, /repos must not be empty; leave it out/],
      [{ repos: ['octo'] }, /repo must be owner\/name/],
      [{ repos: ['octo/cat', 42] }, /repo must be a string \(got a number\)/],
      // A misspelt field must not turn into "prune everything".
      [{ repo: ['octo/cat'] }, /unknown field "repo" in the request body; the only field is "repos"/],
      [['octo/cat'], /request body must be a JSON object like \{"repos"/],
      [null, /request body must be a JSON object/],
      [{ repos: Array.from({ length: 1001 }, (_, i) => `octo/r${i}`) }, /at most 1000 repositories/],
    ];
    for (const [body, message] of cases) {
      const refused = await post(body);
      expect(refused.status, JSON.stringify(body).slice(0, 60)).toBe(400);
      expect(refused.body.error).toMatch(message);
    }
    const malformed = await call(server, 'POST', '/api/caches/prune', { raw: '{"repos": [', headers: { 'content-type': 'application/json' } });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error).toMatch(/not valid JSON/);
    const text = await call(server, 'POST', '/api/caches/prune', { raw: 'octo/cat', headers: { 'content-type': 'text/plain' } });
    expect(text.status).toBe(415);

    expect(caches.pruneCalls).toEqual([]);
    expect(caches.caches).toHaveLength(3);
  });

  it('answers 501 with the reason when the server has no cache service', async () => {
    const server = await start();
    for (const [method, path] of [['GET', '/api/caches'], ['POST', '/api/caches/prune']] as const) {
      const answer = await call(server, method, path);
      expect(answer.status, `${method} ${path}`).toBe(501);
      expect(answer.body).toEqual({
        error: 'this TeleCoder server does not manage repository caches (it was started without a cache service)',
      });
    }
    // The body is still checked first, as on every other route.
    expect((await call(server, 'POST', '/api/caches/prune', { body: { repos: 'x' } })).status).toBe(400);
  });

  it('answers 405 for a wrong method on the cache routes', async () => {
    const server = await start({ caches: new FakeCacheService([]) });
    const list = await call(server, 'DELETE', '/api/caches');
    expect(list.status).toBe(405);
    expect(list.headers.get('allow')).toBe('GET');
    const prune = await call(server, 'GET', '/api/caches/prune');
    expect(prune.status).toBe(405);
    expect(prune.headers.get('allow')).toBe('POST');
  });

  it('passes a cache failure through as a logged 500', async () => {
    const { logger, lines } = capturingLogger();
    const caches = new FakeCacheService([]);
    caches.listCaches = () => Promise.reject(new Error('docker df exploded'));
    const server = await start({ caches, logger });
    const failed = await call(server, 'GET', '/api/caches');
    expect(failed.status).toBe(500);
    expect(failed.text).not.toMatch(/exploded/);
    expect(lines.join('')).toMatch(/docker df exploded/);
  });
});
