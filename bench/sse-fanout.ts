/**
 * `npm run bench` (SSE part): one session's event stream with many subscribers.
 *
 *   (a) Delivery latency: BENCH_SSE_SUBSCRIBERS (default 1,000) streams of
 *       GET /api/sessions/:id/events on one session, BENCH_SSE_EVENTS (default 200) `output`
 *       events of 1 KiB at 20 a second, each stored and published as the engine does
 *       (store.appendEvent, then bus.publish); per event and subscriber, the time from the start
 *       of the publish to the moment the subscriber had the whole event; p50 and p99 over all.
 *       Floors in the same run: a bare node:http server writing the same bytes (made once) to the
 *       same number of streams, taking turns with TeleCoder for BENCH_SSE_ROUNDS (default 3)
 *       rounds (medians of each figure), and TeleCoder with one subscriber.
 *   (b) Memory with slow subscribers: 10 streams that never read and one that reads, during 10 s
 *       of 16 KiB events at 100 a second (16 MiB each stalled stream would queue if nothing cut
 *       it); the memory the server holds at the end (after a collection) and its peak RSS growth,
 *       beside the same 10 s with the reader alone and with a server that never cuts.
 *
 * The server is the real API handler on node:http on 127.0.0.1 over a real SQLite store and the
 * in-memory bus (test/helpers/api-test-server.ts); the subscribers are raw sockets in a child
 * process (bench/sse-fanout-clients.ts), so reading them does not share the server's event loop.
 * Times are process.hrtime (the monotonic clock, shared by both processes).
 */
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { median } from './bench-cache.js';
import { createLogger } from '../src/logger.js';
import { formatSseEvent } from '../src/http/sse-stream.js';
import type { SessionEvent } from '../src/model/session.js';
import { startApiTestServer, type ApiTestServer } from '../test/helpers/api-test-server.js';
import type { ClientCommand, ClientReport } from './sse-fanout-clients.js';

const SUBSCRIBERS = positive('BENCH_SSE_SUBSCRIBERS', 1_000);
const EVENTS = positive('BENCH_SSE_EVENTS', 200);
const ROUNDS = positive('BENCH_SSE_ROUNDS', 3);
const WARM_UP_EVENTS = 20;
const EVENT_INTERVAL_MS = 50;
const EVENT_TEXT = 'x'.repeat(1024);
const STALLED = 10;
const MEMORY_WINDOW_MS = 10_000;
const MEMORY_EVENT_INTERVAL_MS = 10;
const MEMORY_EVENT_TEXT = 'y'.repeat(16 * 1024);
/** Time for the last event to reach every subscriber before the times are collected. */
const SETTLE_MS = 1_000;

setFlagsFromString('--expose-gc');
/** A collection before each memory window, so each starts from what is really live. */
const gc = runInNewContext('gc') as () => void;

function positive(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a whole number ≥ 1 (got "${process.env[name]}")`);
  return value;
}

const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

function percentile(values: number[], p: number): number {
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Each subscriber holds one socket here and one in the client process, plus a few to spare. */
function checkDescriptorLimit(): void {
  const limit = spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim();
  const needed = SUBSCRIBERS + STALLED + 200;
  if (limit !== 'unlimited' && Number(limit) < needed) {
    throw new Error(
      `${SUBSCRIBERS} subscribers need about ${needed} open files per process and this shell allows ${limit}: ` +
        `raise it with \`ulimit -n ${Math.max(4096, needed)}\` before \`npm run bench\`, or set BENCH_SSE_SUBSCRIBERS lower`,
    );
  }
}

/** The child process holding the subscribers, and a way to wait for its answer to a command. */
class Clients {
  readonly #child: ChildProcess;
  readonly #waiting = new Map<string, (report: ClientReport) => void>();
  #failure: Error | undefined;

  constructor() {
    this.#child = fork(fileURLToPath(new URL('./sse-fanout-clients.js', import.meta.url)), { stdio: 'inherit' });
    this.#child.on('message', (report: ClientReport) => {
      if (report.kind === 'failed') {
        this.#failure = new Error(`the subscriber process failed: ${report.message}`);
        for (const waiter of this.#waiting.values()) waiter(report);
        return;
      }
      this.#waiting.get(`${report.kind}:${report.group}`)?.(report);
    });
  }

  #ask<K extends 'opened' | 'times'>(command: ClientCommand, answer: K): Promise<Extract<ClientReport, { kind: K }>> {
    const key = `${answer}:${command.group}`;
    return new Promise((resolve, reject) => {
      this.#waiting.set(key, (report) => {
        this.#waiting.delete(key);
        if (report.kind === 'failed') reject(this.#failure);
        else resolve(report as Extract<ClientReport, { kind: K }>);
      });
      this.#child.send(command);
    });
  }

  async open(group: string, url: string, count: number, stalled = false): Promise<void> {
    await this.#ask({ kind: 'open', group, url, count, stalled }, 'opened');
  }

  collect(group: string) {
    return this.#ask({ kind: 'collect', group }, 'times');
  }

  stop(): void {
    this.#child.disconnect();
  }
}

interface Latencies {
  /** Median time of the publish call itself: the server's synchronous work for one event. */
  publishCall: number;
  p50: number;
  p99: number;
  max: number;
  samples: number;
  missed: number;
}

/**
 * Opens `count` streams, publishes warm-up events (not counted), then EVENTS events at
 * EVENT_INTERVAL_MS; `publish` returns the id of the event it sent.
 */
async function measureLatency(clients: Clients, group: string, url: string, count: number, publish: () => number): Promise<Latencies> {
  await clients.open(group, url, count);
  for (let i = 0; i < WARM_UP_EVENTS; i++) {
    publish();
    await sleep(EVENT_INTERVAL_MS);
  }
  const published = new Map<number, number>();
  const calls: number[] = [];
  for (let i = 0; i < EVENTS; i++) {
    const at = nowMs();
    published.set(publish(), at);
    calls.push(nowMs() - at);
    await sleep(EVENT_INTERVAL_MS);
  }
  await sleep(SETTLE_MS);
  const { times } = await clients.collect(group);
  const latencies: number[] = [];
  let missed = 0;
  for (const [id, at] of published) {
    const received = times[String(id)] ?? [];
    missed += count - received.length;
    for (const time of received) latencies.push(time - at);
  }
  return { publishCall: percentile(calls, 50), p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: percentile(latencies, 100), samples: latencies.length, missed };
}

/** The floor: node:http writing the same bytes to every stream, made once per event. */
async function bareFanOut(): Promise<{ url: string; publish(): number; close(): Promise<void> }> {
  const streams = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache, no-transform', Connection: 'keep-alive' });
    res.flushHeaders();
    req.socket.setNoDelay(true);
    streams.add(res);
    res.on('close', () => streams.delete(res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  let nextId = 0;
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`,
    publish() {
      const event: SessionEvent = { id: ++nextId, sessionId: 's0001', type: 'output', data: EVENT_TEXT, createdAt: new Date().toISOString() };
      const bytes = Buffer.from(formatSseEvent(event));
      for (const res of streams) res.write(bytes);
      return event.id;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Each figure's median over the rounds; the missed deliveries summed. */
function medianOf(rounds: Latencies[]): Latencies {
  const pick = (key: keyof Latencies) => median(rounds.map((round) => round[key]));
  return {
    publishCall: pick('publishCall'),
    p50: pick('p50'),
    p99: pick('p99'),
    max: pick('max'),
    samples: rounds.reduce((sum, round) => sum + round.samples, 0),
    missed: rounds.reduce((sum, round) => sum + round.missed, 0),
  };
}

interface MemoryFigures {
  /** Peak RSS during the window over RSS at its start (after a collection): garbage included. */
  peakGrowth: number;
  /** Live memory (V8 heap + Buffers) after a collection at the window's end, over the same at its start: what is held. */
  retained: number;
  cut: number;
  readerMissed: number;
  events: number;
}

/** `windowMs` of big events with `stalled` streams that never read and one that reads. */
async function measureMemory(clients: Clients, server: ApiTestServer, group: string, stalled: number, windowMs = MEMORY_WINDOW_MS): Promise<MemoryFigures> {
  const { service } = server;
  const { id } = service.submit({ repo: 'acme/bench', prompt: `memory, ${stalled} stalled` });
  service.setStatus(id, 'running');
  const url = `${server.url}/api/sessions/${id}/events`;
  await clients.open(`${group}-reader`, url, 1);
  if (stalled > 0) await clients.open(`${group}-stalled`, url, stalled, true);
  const deadline = Date.now() + 10_000;
  while (service.subscriberCount(id) < 1 + stalled) {
    if (Date.now() > deadline) throw new Error(`only ${service.subscriberCount(id)} of ${1 + stalled} streams subscribed in 10 s`);
    await sleep(10);
  }
  const live = () => {
    gc();
    const usage = process.memoryUsage();
    return usage.heapUsed + usage.external;
  };
  const liveBefore = live();
  await sleep(200);
  const before = process.memoryUsage().rss;
  let peak = before;
  const first = service.events(id).length;
  const end = Date.now() + windowMs;
  while (Date.now() < end) {
    service.emit(id, 'output', MEMORY_EVENT_TEXT);
    peak = Math.max(peak, process.memoryUsage().rss);
    await sleep(MEMORY_EVENT_INTERVAL_MS);
  }
  const subscribedAtEnd = service.subscriberCount(id);
  await sleep(SETTLE_MS);
  peak = Math.max(peak, process.memoryUsage().rss);
  // The stalled streams are still connected: what they hold is still held.
  const retained = live() - liveBefore;
  const events = service.events(id).slice(first);
  const { times } = await clients.collect(`${group}-reader`);
  if (stalled > 0) await clients.collect(`${group}-stalled`);
  const readerMissed = events.filter((event) => !times[String(event.id)]).length;
  return { peakGrowth: peak - before, retained, cut: 1 + stalled - subscribedAtEnd, readerMissed, events: events.length };
}

async function main(): Promise<void> {
  checkDescriptorLimit();
  const clients = new Clients();
  try {
    const bare = await bareFanOut();
    const server = await startApiTestServer({ logger: createLogger('silent') });
    try {
      const session = (label: string) => {
        const { id } = server.service.submit({ repo: 'acme/bench', prompt: label });
        server.service.setStatus(id, 'running');
        return { url: `${server.url}/api/sessions/${id}/events`, publish: () => server.service.emit(id, 'output', EVENT_TEXT).id };
      };
      // Floor and TeleCoder take turns, so a burst of load on the machine falls on both alike.
      const floors: Latencies[] = [];
      const fanOuts: Latencies[] = [];
      for (let round = 1; round <= ROUNDS; round++) {
        floors.push(await measureLatency(clients, `bare-${round}`, bare.url, SUBSCRIBERS, bare.publish));
        const many = session(`fan-out ${round}`);
        fanOuts.push(await measureLatency(clients, `many-${round}`, many.url, SUBSCRIBERS, many.publish));
      }
      await bare.close();
      const floor = medianOf(floors);
      const fanOut = medianOf(fanOuts);
      const single = session('one subscriber');
      const one = await measureLatency(clients, 'one', single.url, 1, single.publish);

      // Unmeasured: the heap and SQLite's page cache grow to their working size on the first big events.
      await measureMemory(clients, server, 'warm-up', 0, 3_000);
      const quiet = await measureMemory(clients, server, 'quiet', 0);
      const slow = await measureMemory(clients, server, 'slow', STALLED);
      // What the limit saves: the same stalled streams on a server that never cuts them.
      const unlimitedServer = await startApiTestServer({ logger: createLogger('silent'), maxPendingStreamBytes: Number.MAX_SAFE_INTEGER });
      const unlimited = await measureMemory(clients, unlimitedServer, 'unlimited', STALLED).finally(() => unlimitedServer.close());

      const row = (name: string, figures: Latencies) =>
        `${name.padEnd(38)} p50 ${figures.p50.toFixed(1).padStart(6)} ms   p99 ${figures.p99.toFixed(1).padStart(6)} ms   max ${figures.max.toFixed(1).padStart(6)} ms   missed ${figures.missed} of ${figures.samples + figures.missed}   publish call ${figures.publishCall.toFixed(2)} ms`;
      console.log(
        `SSE fan-out — ${EVENTS} events of ${EVENT_TEXT.length} bytes at ${1000 / EVENT_INTERVAL_MS}/s, publish → whole event at the subscriber, medians of ${ROUNDS} rounds, Node ${process.version}`,
      );
      console.log(row(`bare node:http, ${SUBSCRIBERS} streams (floor)`, floor));
      console.log(row(`TeleCoder, 1 subscriber`, one));
      console.log(row(`TeleCoder, ${SUBSCRIBERS} subscribers`, fanOut));
      console.log(
        `p50 ${(fanOut.p50 / floor.p50).toFixed(2)}×, p99 ${(fanOut.p99 / floor.p99).toFixed(2)}× the bare fan-out (goal: p99 < 100 ms)`,
      );
      const perStream = (MEMORY_WINDOW_MS / MEMORY_EVENT_INTERVAL_MS) * MEMORY_EVENT_TEXT.length;
      console.log(
        `Slow subscribers — ${MEMORY_WINDOW_MS / 1000} s of ${MEMORY_EVENT_TEXT.length / 1024} KiB events at ${1000 / MEMORY_EVENT_INTERVAL_MS}/s (~${mib(perStream)} per stream if never cut); the server process's memory, after a collection and at its peak`,
      );
      const memoryRow = (name: string, figures: MemoryFigures, cut: boolean) =>
        `${name.padEnd(44)} retained ${('+' + mib(figures.retained)).padStart(10)}   peak RSS ${('+' + mib(figures.peakGrowth)).padStart(10)}` +
        (cut ? `   stalled streams cut ${figures.cut} of ${STALLED}` : '') +
        `   reader missed ${figures.readerMissed} of ${figures.events}`;
      console.log(memoryRow('one reader alone (floor)', quiet, false));
      console.log(memoryRow(`one reader + ${STALLED} that never read`, slow, true));
      console.log(memoryRow(`… on a server that never cuts (no limit)`, unlimited, true));
    } finally {
      await server.close();
    }
  } finally {
    clients.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
