/**
 * Event streams of real sessions, against the real server and engine: the events are what a
 * session really emits, the stream is the one Probot's server serves, the limits are the
 * production ones.
 *
 * - A client that stops reading is cut off (1 MiB queued) instead of being buffered without
 *   bound, never holds up the session, and resumes from the store with Last-Event-ID.
 * - Clients that connect at any moment of a busy session, from the start or from a Last-Event-ID,
 *   each get the stored history and then the live events: every event once, in order, to `done`.
 */
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { InMemoryEventBus } from '../../src/events/in-memory-event-bus.js';
import { useAppHarness } from '../helpers/app-harness.js';
import { type ScriptStep } from '../helpers/scripted-llm-server.js';
import { openSse } from '../helpers/sse-client.js';
import { waitForFinal } from '../helpers/test-app.js';
import { waitUntil } from '../helpers/wait-until.js';

/** One long model reply: 512 KiB of text, cut off at the output limit, so the agent goes on. */
const REPLY_BYTES = 512 * 1024;
/** Enough replies to queue 12.5 MiB: far past the socket buffers and the 1 MiB limit. */
const MAX_LONG_REPLIES = 25;
const AFTER_THE_CUT = 4;

describe('SSE on a real session', () => {
  const harness = useAppHarness('sse');
  let socket: Socket | undefined;

  // Runs before the harness stops the app (after-hooks run last registered first).
  afterEach(() => {
    socket?.destroy();
    socket = undefined;
  });

  it('clients joining at any moment of a busy session, from the start or from a Last-Event-ID, get every event once, in order, through done', async () => {
    const repo = harness.localRepo({ 'README.md': '# Project\n' });
    // Forty replies, each an output and a usage event, a few milliseconds apart.
    const REPLIES = 40;
    const busy: ScriptStep = (_request, index) =>
      index >= REPLIES
        ? { toolCalls: [{ name: 'finish', arguments: { summary: 'done talking' } }] }
        : { text: `thought ${index}`, stopReason: 'max_tokens', delayMs: 15 };
    const started = await harness.start({ script: Array.from({ length: REPLIES + 1 }, () => busy), env: { TELECODER_MAX_TURNS: String(REPLIES + 5) } });
    const created = await fetch(`${started.url}/api/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ repo, prompt: 'think aloud' }),
    });
    const { id } = (await created.json()) as { id: string };
    const url = `${started.url}/api/sessions/${id}/events`;

    // A new client every few milliseconds while the session runs, every other one resuming from
    // the newest stored event at that moment (what a reconnecting EventSource does).
    const clients: Array<{ after: number; stream: Awaited<ReturnType<typeof openSse>> }> = [];
    let joinedWhileRunning = 0;
    while (clients.length < 60) {
      const session = started.app.store.getSession(id)!;
      if (['complete', 'error', 'stopped'].includes(session.status)) break;
      if (session.status === 'running') joinedWhileRunning += 1;
      const after = clients.length % 2 === 0 ? 0 : (started.app.store.listEvents(id).at(-1)?.id ?? 0);
      clients.push({ after, stream: await openSse(url, after ? { 'Last-Event-ID': String(after) } : {}) });
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const session = await waitForFinal(started.app, id);
    expect(session.status).toBe('complete');
    expect(joinedWhileRunning).toBeGreaterThan(10);

    const stored = started.app.store.listEvents(id);
    expect(stored.filter((event) => event.type === 'output').length).toBeGreaterThanOrEqual(REPLIES);
    for (const { after, stream } of clients) {
      await stream.ended;
      const ids = stream.messages.map((message) => Number(message.id));
      expect(ids, `client after ${after}`).toEqual(stored.filter((event) => event.id > after).map((event) => event.id));
      expect(stream.messages.at(-1)!.event).toBe('done');
    }
  });

  it('is cut off once 1 MiB is queued for it, the session goes on unharmed, and it resumes from Last-Event-ID with nothing lost or doubled', async () => {
    const repo = harness.localRepo({ 'README.md': '# Project\n' });
    const bus = new InMemoryEventBus();
    // The stream is this session's only subscriber: once it lets go, the server has cut it off.
    let subscribed = false;
    const streamCut = () => {
      if (bus.subscribedSessionCount > 0) subscribed = true;
      return subscribed && bus.subscribedSessionCount === 0;
    };
    // Long replies until the stream is cut, and a few more after it (2 MiB the client never gets).
    let cutAt: number | undefined;
    const longReply: ScriptStep = (_request, index) => {
      if (cutAt === undefined && streamCut()) cutAt = index;
      return (cutAt !== undefined && index >= cutAt + AFTER_THE_CUT) || index >= MAX_LONG_REPLIES
        ? { toolCalls: [{ name: 'finish', arguments: { summary: 'wrote a lot' } }] }
        : { text: `reply ${index}: ${String(index % 10).repeat(REPLY_BYTES)}`, stopReason: 'max_tokens' };
    };
    const started = await harness.start({
      script: Array.from({ length: MAX_LONG_REPLIES + 1 }, () => longReply),
      provider: 'openai',
      env: { TELECODER_MAX_TURNS: String(MAX_LONG_REPLIES + 5) },
      customize: (builder) => builder.withEventBus(bus),
    });

    const created = await fetch(`${started.url}/api/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ repo, prompt: 'write a lot' }),
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };

    // A real HTTP client on a real socket that sends its request and then never reads.
    const { hostname, port } = new URL(started.url);
    socket = connect({ host: hostname, port: Number(port) });
    await new Promise<void>((resolve, reject) => socket!.once('connect', resolve).once('error', reject));
    socket.write(`GET /api/sessions/${id}/events HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAccept: text/event-stream\r\n\r\n`);
    socket.pause();
    await waitUntil('the stream to subscribe', () => (streamCut(), subscribed), { intervalMs: 20 });

    const session = await waitForFinal(started.app, id, 180_000);
    // The engine never waited for the stalled client: the session ran to its end...
    expect(session.status).toBe('complete');
    // ...and the server let go of that client while the session was still producing events.
    expect(cutAt).toBeDefined();
    expect(session.usage.turns).toBe(cutAt! + AFTER_THE_CUT + 1);
    expect(session.usage.turns).toBeLessThan(MAX_LONG_REPLIES);
    const stored = started.app.store.listEvents(id);
    const storedBytes = stored.reduce((sum, event) => sum + JSON.stringify(event.data).length, 0);
    expect(storedBytes).toBeGreaterThan(4 * REPLY_BYTES);

    // What the client gets when it finally reads: what had been queued, then the end, no `done`.
    let raw = '';
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      raw += text;
    });
    const closedOrEnded = new Promise<void>((resolve) => {
      socket!.once('close', () => resolve());
      socket!.on('data', () => {
        if (raw.endsWith('\r\n0\r\n\r\n')) resolve();
      });
    });
    socket.resume();
    await closedOrEnded;
    expect(raw).toMatch(/^HTTP\/1\.1 200/);
    expect(raw).not.toMatch(/^event: done$/m);
    // At most what was queued when it was cut: none of the replies that came after.
    expect(storedBytes - raw.length).toBeGreaterThan((AFTER_THE_CUT - 1) * REPLY_BYTES);
    const receivedIds = [...raw.matchAll(/^id: (\d+)$/gm)].map((match) => Number(match[1]));
    expect(receivedIds.length).toBeGreaterThan(0);
    // A prefix of the stored history, in order, without gaps.
    expect(receivedIds).toEqual(stored.slice(0, receivedIds.length).map((event) => event.id));
    expect(receivedIds.length).toBeLessThan(stored.length);

    // Resuming from the last event it got, as an EventSource does, replays exactly the rest
    // through `done`. A replay is held to the same limit, so a long history may take more than
    // one reconnection; each one makes progress.
    const ids = [...receivedIds];
    let lastEvent = '';
    for (let attempt = 1; lastEvent !== 'done'; attempt += 1) {
      expect(attempt, 'reconnections needed to catch up').toBeLessThanOrEqual(5);
      const resumed = await openSse(`${started.url}/api/sessions/${id}/events`, { 'Last-Event-ID': String(ids.at(-1)) });
      await resumed.ended;
      expect(resumed.messages.length).toBeGreaterThan(0);
      ids.push(...resumed.messages.map((message) => Number(message.id)));
      lastEvent = resumed.messages.at(-1)!.event ?? '';
    }
    expect(ids).toEqual(stored.map((event) => event.id));
  });
});
