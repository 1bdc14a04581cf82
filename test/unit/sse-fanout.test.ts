/**
 * One session's event stream with many subscribers, over real HTTP on loopback, the real API
 * handler, a real SQLite store and the in-memory bus:
 *
 * - a subscriber that never reads is cut once `maxPendingStreamBytes` are queued for it, while the
 *   server-side socket never holds more than that (plus the event that crossed the limit), even as
 *   events keep coming while it is still connected;
 * - a subscriber that reads gets every event, in order, all along;
 * - the cut one, reconnecting with Last-Event-ID, gets what it missed from the store, in order;
 * - an event's bytes are made once, whatever the number of subscribers.
 */
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { formatSseEvent, serializedSseEvent } from '../../src/http/sse-stream.js';
import type { SessionEvent } from '../../src/model/session.js';
import { startApiTestServer, type ApiTestServer } from '../helpers/api-test-server.js';
import { openSse, type SseClient } from '../helpers/sse-client.js';
import { waitUntil } from '../helpers/wait-until.js';

const LIMIT = 256 * 1024;
/** 16 KiB of output per event: loopback's socket buffers (a few MiB) fill within a few hundred. */
const TEXT = 'x'.repeat(16 * 1024);
/** Far past what the kernel buffers plus the limit can take: the cut must come before this. */
const MAX_EVENTS_BEFORE_CUT = 2_000;
const EVENTS_AFTER_CUT = 200;

const servers: ApiTestServer[] = [];
const clients: SseClient[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const client of clients.splice(0)) client.close();
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
const idsOf = (messages: Array<{ id?: string | undefined }>) => messages.map((message) => Number(message.id));

/** Opens the stream on a raw socket and then reads nothing: a stuck browser tab. */
async function stalledSubscriber(server: ApiTestServer, path: string): Promise<Socket> {
  const socket = connect(server.port, '127.0.0.1');
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.pause();
  socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nAccept: text/event-stream\r\n\r\n`);
  return socket;
}

/** Everything the socket gets once it reads again, until the stream's last chunk or the close. */
async function drain(socket: Socket): Promise<string> {
  let raw = '';
  socket.setEncoding('utf8');
  const done = new Promise<void>((resolve) => {
    socket.once('close', () => resolve());
    socket.on('data', (text: string) => {
      raw += text;
      if (raw.endsWith('\r\n0\r\n\r\n')) resolve();
    });
  });
  socket.resume();
  await done;
  return raw;
}

describe('SSE fan-out to one session', () => {
  it('cuts a subscriber that never reads at the limit while one that reads gets every event, and the cut one resumes from Last-Event-ID', async () => {
    const server = await startApiTestServer({ maxPendingStreamBytes: LIMIT, heartbeatMs: 60_000 });
    servers.push(server);
    const serverSockets: Socket[] = [];
    server.server.on('connection', (socket: Socket) => serverSockets.push(socket));
    const { service } = server;
    const { id } = service.submit({ repo: 'acme/widgets', prompt: 'talk a lot' });
    service.setStatus(id, 'running');
    const path = `/api/sessions/${id}/events`;

    const reader = await openSse(`${server.url}${path}`);
    clients.push(reader);
    await reader.waitFor(() => reader.comments.includes('replay-complete'));
    const stalled = await stalledSubscriber(server, path);
    await waitUntil('both streams to subscribe', () => service.subscriberCount(id) === 2, { intervalMs: 10, timeoutMs: 5_000 });
    const stalledOnServer = serverSockets.find((socket) => socket.remotePort === stalled.localPort);
    expect(stalledOnServer, 'the server side of the stalled connection').toBeDefined();

    // The limit, plus the one event that crossed it, plus its chunk framing.
    const oneEvent = serializedSseEvent(service.emit(id, 'output', TEXT)).length;
    const bound = LIMIT + oneEvent + 64;
    let mostQueued = 0;
    let emitted = 1;
    while (service.subscriberCount(id) === 2) {
      expect(emitted, 'events sent before the stalled subscriber was cut').toBeLessThan(MAX_EVENTS_BEFORE_CUT);
      service.emit(id, 'output', TEXT);
      emitted += 1;
      mostQueued = Math.max(mostQueued, stalledOnServer!.writableLength);
      await nextTurn();
    }
    // It was really held up: its queue passed the limit before the cut (not a plain disconnect).
    expect(mostQueued).toBeGreaterThan(LIMIT);
    expect(stalledOnServer!.destroyed, 'still connected: the cut ends the stream, the socket goes later').toBe(false);

    // Events keep coming while the cut subscriber is still connected: nothing more is queued for it.
    for (let i = 0; i < EVENTS_AFTER_CUT; i++) {
      service.emit(id, 'output', `after the cut ${i}`);
      mostQueued = Math.max(mostQueued, stalledOnServer!.writableLength);
      await nextTurn();
    }
    expect(stalledOnServer!.destroyed).toBe(false);
    expect(mostQueued).toBeLessThanOrEqual(bound);

    // The reader was never held up by the stalled one: it has every event so far, in order.
    await reader.waitFor(() => reader.messages.length === service.events(id).length);
    expect(idsOf(reader.messages)).toEqual(service.events(id).map((event) => event.id));

    service.finish(id, 'complete');
    await reader.ended;
    const stored = service.events(id);
    expect(idsOf(reader.messages)).toEqual(stored.map((event) => event.id));

    // The stalled client reads at last: a prefix of the history, then the end of the stream.
    const raw = await drain(stalled);
    expect(raw).toMatch(/^HTTP\/1\.1 200/);
    expect(raw).not.toMatch(/^event: done$/m);
    const received = [...raw.matchAll(/^id: (\d+)$/gm)].map((match) => Number(match[1]));
    expect(received.length).toBeGreaterThan(2);
    expect(received.length).toBeLessThan(stored.length - EVENTS_AFTER_CUT);
    expect(received).toEqual(stored.slice(0, received.length).map((event) => event.id));

    // Reconnecting from the last event it got, as EventSource does: the rest, in order, to done.
    const resumed = await openSse(`${server.url}${path}`, { 'Last-Event-ID': String(received.at(-1)) });
    clients.push(resumed);
    await resumed.ended;
    expect(idsOf(resumed.messages)).toEqual(stored.slice(received.length).map((event) => event.id));
    expect(resumed.messages.at(-1)!.event).toBe('done');
  });

  it('delivers the same bytes to every subscriber, made once per event', async () => {
    const server = await startApiTestServer();
    servers.push(server);
    const { service } = server;
    const { id } = service.submit({ repo: 'acme/widgets', prompt: 'many readers' });
    const readers = await Promise.all(Array.from({ length: 20 }, () => openSse(`${server.url}/api/sessions/${id}/events`)));
    clients.push(...readers);
    await Promise.all(readers.map((reader) => reader.waitFor(() => reader.comments.includes('replay-complete'))));

    const published: SessionEvent[] = [];
    const unsubscribe = service.bus.subscribe(id, (event) => published.push(event));
    // emit() stores and publishes synchronously: every stream has written the event when it returns.
    const stringify = vi.spyOn(JSON, 'stringify');
    service.emit(id, 'output', 'héllo, wörld ✓');
    const stringified = stringify.mock.calls.length;
    stringify.mockRestore();
    // The store encodes the data once; the streams add one encoding in all, not one each.
    expect(stringified).toBeGreaterThan(0);
    expect(stringified).toBeLessThan(readers.length);

    service.finish(id, 'complete');
    unsubscribe();
    await Promise.all(readers.map((reader) => reader.ended));
    for (const reader of readers) expect(idsOf(reader.messages)).toEqual(service.events(id).map((event) => event.id));
    for (const reader of readers) expect(JSON.parse(reader.messages[1]!.data)).toMatchObject({ type: 'output', data: 'héllo, wörld ✓' });

    const event = published[0]!;
    expect(serializedSseEvent(event)).toBe(serializedSseEvent(event));
    expect(serializedSseEvent(event).toString('utf8')).toBe(formatSseEvent(event));
  });
});
