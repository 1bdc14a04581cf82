import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { SessionJson } from '../../src/http/session-json.js';
import { startApiTestServer, type ApiTestServer, type ApiTestServerOptions } from '../helpers/api-test-server.js';
import { openSse, type SseClient } from '../helpers/sse-client.js';

const servers: ApiTestServer[] = [];
const clients: SseClient[] = [];

async function start(options: ApiTestServerOptions = {}): Promise<ApiTestServer> {
  const server = await startApiTestServer(options);
  servers.push(server);
  return server;
}

async function open(server: ApiTestServer, headers: Record<string, string> = {}): Promise<SseClient> {
  const client = await openSse(`${server.url}/api/sessions/stream`, headers);
  clients.push(client);
  return client;
}

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

const snapshotOf = (client: SseClient) => (JSON.parse(client.messages[0]!.data) as { sessions: SessionJson[] }).sessions;
const sessionEvents = (client: SseClient) =>
  client.messages.filter((m) => m.event === 'session').map((m) => JSON.parse(m.data) as SessionJson);

describe('GET /api/sessions/stream', () => {
  it('starts with a snapshot of the newest sessions, as GET /api/sessions shows them', async () => {
    const server = await start();
    for (const repo of ['acme/one', 'acme/two', 'acme/three']) server.service.submit({ repo, prompt: `work on ${repo}` });
    const client = await open(server);
    expect(client.status).toBe(200);
    expect(client.headers.get('content-type')).toMatch(/^text\/event-stream/);
    await client.waitFor(() => client.messages.length >= 1);
    expect(client.messages[0]!.event).toBe('snapshot');
    const listed = (await (await fetch(`${server.url}/api/sessions`)).json()) as SessionJson[];
    expect(snapshotOf(client)).toEqual(listed);
    expect(snapshotOf(client).map((s) => s.repo)).toEqual(['acme/three', 'acme/two', 'acme/one']);
  });

  it('caps the snapshot at the 200 newest sessions', async () => {
    const server = await start();
    for (let i = 0; i < 205; i++) server.service.submit({ repo: 'acme/many', prompt: `task ${i}` });
    const client = await open(server);
    await client.waitFor(() => client.messages.length >= 1);
    const sessions = snapshotOf(client);
    expect(sessions).toHaveLength(200);
    expect(sessions[0]!.prompt).toBe('task 204');
  });

  it('sends the full session when one is created and when it changes, until it is done', async () => {
    const server = await start({ sessionsStreamCoalesceMs: 20 });
    const client = await open(server);
    await client.waitFor(() => client.messages.length >= 1);
    expect(snapshotOf(client)).toEqual([]);

    const session = server.service.submit({ repo: 'acme/widgets', prompt: 'add a health check' });
    await client.waitFor(() => sessionEvents(client).some((s) => s.id === session.id && s.status === 'pending'));
    server.service.setStatus(session.id, 'running');
    await client.waitFor(() => sessionEvents(client).some((s) => s.status === 'running'));
    server.service.finish(session.id, 'complete', {
      result: { type: 'pr', content: 'Added /health', prUrl: 'https://github.com/acme/widgets/pull/7', prNumber: 7, branch: session.branch },
    });
    await client.waitFor(() => sessionEvents(client).some((s) => s.status === 'complete'));
    const last = sessionEvents(client).at(-1)!;
    expect(last).toMatchObject({ id: session.id, repo: 'acme/widgets', status: 'complete', pr_url: 'https://github.com/acme/widgets/pull/7', pr_number: 7 });
    const stored = (await (await fetch(`${server.url}/api/sessions/${session.id}`)).json()) as SessionJson;
    expect(last).toEqual(stored);
  });

  it('folds a burst of changes to one session into a few events carrying the latest state', async () => {
    const server = await start({ sessionsStreamCoalesceMs: 200 });
    const session = server.service.submit({ repo: 'acme/widgets', prompt: 'busy agent' });
    const client = await open(server);
    await client.waitFor(() => client.messages.length >= 1);
    for (let turn = 1; turn <= 100; turn++) {
      server.service.store.updateSession(session.id, { usage: { inputTokens: turn * 10, outputTokens: turn, turns: turn } });
      server.service.emit(session.id, 'usage', { inputTokens: turn * 10, outputTokens: turn, turns: turn });
    }
    await client.waitFor(() => sessionEvents(client).some((s) => s.usage.turns === 100), 2_000);
    // The first change at once, the other 99 in one trailing event once the window closes.
    expect(sessionEvents(client).map((s) => s.usage.turns)).toEqual([1, 100]);
    await new Promise((resolve) => setTimeout(resolve, 450));
    expect(sessionEvents(client)).toHaveLength(2); // nothing more: the state did not change again
  });

  it('sends nothing for an event that leaves the session as it was (a tool call, a log line)', async () => {
    const server = await start({ sessionsStreamCoalesceMs: 10 });
    const session = server.service.submit({ repo: 'acme/widgets', prompt: 'quiet' });
    const client = await open(server);
    await client.waitFor(() => client.messages.length >= 1);
    server.service.emit(session.id, 'tool', { name: 'read_file', arguments: { path: 'README.md' } });
    await new Promise((resolve) => setTimeout(resolve, 100));
    server.service.emit(session.id, 'tool', { name: 'read_file', arguments: { path: 'package.json' } });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(sessionEvents(client)).toEqual([]);
  });

  it('needs the API token when one is set, and sends nothing without it', async () => {
    const server = await start({ apiToken: 'secret-token' });
    server.service.submit({ repo: 'acme/private', prompt: 'private work' });
    const refused = await fetch(`${server.url}/api/sessions/stream`);
    expect(refused.status).toBe(401);
    expect(await refused.text()).not.toContain('acme/private');
    const client = await open(server, { authorization: 'Bearer secret-token' });
    await client.waitFor(() => client.messages.length >= 1);
    expect(snapshotOf(client)[0]!.repo).toBe('acme/private');
  });

  it('sends a heartbeat and lets go of the bus when the client leaves', async () => {
    let listeners = 0;
    let target: ApiTestServer | undefined;
    // Counts the stream's subscriptions on the real bus of the server started below.
    const bus: ApiTestServerOptions['bus'] = {
      subscribeAll(listener) {
        listeners += 1;
        const unsubscribe = target!.service.bus.subscribeAll(listener);
        return () => {
          listeners -= 1;
          unsubscribe();
        };
      },
    };
    const server = (target = await start({ heartbeatMs: 50, bus }));
    const client = await open(server);
    await client.waitFor(() => client.comments.filter((c) => c === 'ping').length >= 2);
    expect(listeners).toBe(1);
    client.close();
    const deadline = Date.now() + 2_000;
    while (listeners > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(listeners).toBe(0);
  });

  it('answers 501 saying what is missing when the handler was built without a bus', async () => {
    const server = await start({ bus: undefined });
    const answer = await fetch(`${server.url}/api/sessions/stream`);
    expect(answer.status).toBe(501);
    expect(((await answer.json()) as { error: string }).error).toMatch(/pass `bus` to createApiHandler/);
  });

  it('cuts off a client that stops reading instead of queueing without end', async () => {
    const server = await start({ maxPendingStreamBytes: 64 * 1024, heartbeatMs: 1_000, sessionsStreamCoalesceMs: 1 });
    const socket = connect(server.port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(`GET /api/sessions/stream HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\n\r\n`);
    socket.pause(); // reads nothing from here on
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    const big = 'x'.repeat(100_000);
    for (let i = 0; i < 100; i++) {
      server.service.submit({ repo: 'acme/widgets', prompt: `${big} ${i}` });
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    socket.resume(); // now drain: the server must have ended the answer (the last chunk) rather than kept queueing
    const deadline = Date.now() + 5_000;
    while (!received.endsWith('\r\n0\r\n\r\n') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    socket.destroy();
    expect(received.endsWith('\r\n0\r\n\r\n'), 'the stream was never ended').toBe(true);
    expect(received.length).toBeLessThan(5_000_000); // far from the 10 MB the 100 sessions would have queued
  });
});
