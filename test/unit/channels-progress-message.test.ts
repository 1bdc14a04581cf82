import { describe, expect, it } from 'vitest';
import { ProgressMessage } from '../../src/channels/progress-message.js';
import { followSession } from '../../src/channels/session-progress.js';
import { InMemoryEventBus } from '../../src/events/in-memory-event-bus.js';
import { createLogger } from '../../src/logger.js';
import type { Session, SessionEvent, SessionStatus } from '../../src/model/session.js';

const logger = createLogger('silent');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A platform that takes `latencyMs` per write and records what it got, and when. */
function recordingPlatform(latencyMs = 0) {
  const writes: Array<{ text: string; at: number }> = [];
  let inFlight = 0;
  let peak = 0;
  return {
    writes,
    peak: () => peak,
    write: async (text: string) => {
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      writes.push({ text, at: Date.now() });
      await sleep(latencyMs);
      inFlight -= 1;
    },
  };
}

describe('ProgressMessage', () => {
  it('coalesces a burst into few writes spaced by the interval, always the latest text, one at a time', async () => {
    const platform = recordingPlatform(30);
    const message = new ProgressMessage({ write: platform.write, minIntervalMs: 200, maxLength: 4096, logger });
    for (let i = 1; i <= 50; i++) {
      message.update(`step ${i}`);
      await sleep(10);
    }
    await message.idle();
    // 50 updates over ~500 ms at one write per 200 ms: the first, then at most a few, ending with the last.
    expect(platform.writes.length).toBeLessThanOrEqual(5);
    expect(platform.writes[0]!.text).toBe('step 1');
    expect(platform.writes.at(-1)!.text).toBe('step 50');
    for (let i = 1; i < platform.writes.length; i++) expect(platform.writes[i]!.at - platform.writes[i - 1]!.at).toBeGreaterThanOrEqual(195);
    expect(platform.peak()).toBe(1);
  });

  it('writes the final text at once (no interval), skips a text equal to the last written, and takes nothing after', async () => {
    const platform = recordingPlatform();
    const message = new ProgressMessage({ write: platform.write, minIntervalMs: 10_000, maxLength: 4096, logger });
    message.update('working');
    await message.idle();
    message.update('working');
    const started = Date.now();
    await message.finish('done');
    expect(Date.now() - started).toBeLessThan(1_000);
    message.update('late');
    await message.idle();
    expect(platform.writes.map((write) => write.text)).toEqual(['working', 'done']);
  });

  it('keeps every text within the limit, and a failed write is logged, not thrown, and retried with the next text', async () => {
    const texts: string[] = [];
    let fail = true;
    const message = new ProgressMessage({
      write: async (text) => {
        texts.push(text);
        if (fail) {
          fail = false;
          throw new Error('platform said no');
        }
      },
      minIntervalMs: 0,
      maxLength: 100,
      logger,
    });
    message.update('x'.repeat(500));
    await message.idle();
    await message.finish('y'.repeat(500));
    expect(texts).toHaveLength(2);
    for (const text of texts) expect(text.length).toBeLessThanOrEqual(100);
    expect(texts[1]).toMatch(/cut\)$/);
  });
});

describe('followSession', () => {
  function fakeSessions(status: SessionStatus) {
    const session = { id: 's1', repo: 'acme/widgets', status, mode: 'task' } as Session;
    return { session, sessions: { get: () => session } };
  }
  let eventId = 0;
  const event = (type: SessionEvent['type'], data: unknown): SessionEvent => ({ id: ++eventId, sessionId: 's1', type, data, createdAt: '' });

  it("shows each status and the agent's step, then finishes the message and hands over the ended session once", async () => {
    const bus = new InMemoryEventBus({ logger });
    const { session, sessions } = fakeSessions('pending');
    const platform = recordingPlatform();
    const message = new ProgressMessage({ write: platform.write, minIntervalMs: 0, maxLength: 4096, logger });
    const ended: Session[] = [];
    followSession({ sessions, bus, logger, sessionId: 's1', message, onEnd: (s) => void ended.push(s) });
    await message.idle();
    session.status = 'running';
    bus.publish(event('status', 'running'));
    await message.idle();
    bus.publish(event('tool', { name: 'run_command', arguments: { command: 'npm test' } }));
    await message.idle();
    session.status = 'complete';
    bus.publish(event('status', 'complete'));
    bus.publish(event('done', { status: 'complete' }));
    bus.publish(event('done', { status: 'complete' }));
    await sleep(20);
    const texts = platform.writes.map((write) => write.text);
    expect(texts[0]).toMatch(/^⏳ Queued/);
    expect(texts).toContainEqual(expect.stringMatching(/^⚙️ Working.*\nNow: running `npm test`/s));
    expect(texts.at(-1)).toMatch(/^✅ Done/);
    expect(ended).toHaveLength(1);
  });

  it('a failing onEnd is logged, never an unhandled rejection', async () => {
    const bus = new InMemoryEventBus({ logger });
    const { sessions } = fakeSessions('complete');
    const warnings: unknown[] = [];
    const watching = { ...logger, warn: (...args: unknown[]) => void warnings.push(args) } as unknown as typeof logger;
    const message = new ProgressMessage({ write: async () => undefined, minIntervalMs: 0, maxLength: 4096, logger });
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      followSession({ sessions, bus, logger: watching, sessionId: 's1', message, onEnd: async () => Promise.reject(new Error('post failed')) });
      await sleep(50);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(unhandled).toEqual([]);
    expect(warnings).toHaveLength(1);
  });
});
