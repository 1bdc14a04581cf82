import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { InMemoryEventBus } from '../../src/events/in-memory-event-bus.js';
import type { SessionEvent } from '../../src/model/session.js';

let nextId = 1;
function event(sessionId: string, data: unknown = 'x'): SessionEvent {
  return { id: nextId++, sessionId, type: 'output', data, createdAt: new Date().toISOString() };
}

/** A real pino logger writing JSON lines into an array. */
function capturingLogger(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

describe('InMemoryEventBus', () => {
  it('delivers synchronously, in subscription order across session and all-session listeners', () => {
    const bus = new InMemoryEventBus();
    const calls: string[] = [];
    bus.subscribe('s1', (e) => calls.push(`s1-first:${String(e.data)}`));
    bus.subscribeAll((e) => calls.push(`all:${e.sessionId}:${String(e.data)}`));
    bus.subscribe('s1', (e) => calls.push(`s1-second:${String(e.data)}`));
    bus.subscribe('s2', (e) => calls.push(`s2:${String(e.data)}`));

    bus.publish(event('s1', 'a'));
    expect(calls).toEqual(['s1-first:a', 'all:s1:a', 's1-second:a']); // before publish returned
    bus.publish(event('s2', 'b'));
    bus.publish(event('s3', 'c'));
    expect(calls.slice(3)).toEqual(['all:s2:b', 's2:b', 'all:s3:c']);
  });

  it('keeps events in publish order for each listener', () => {
    const bus = new InMemoryEventBus();
    const seen: number[] = [];
    bus.subscribe('s1', (e) => seen.push(e.id));
    const published = [event('s1'), event('s1'), event('s1')];
    for (const e of published) bus.publish(e);
    expect(seen).toEqual(published.map((e) => e.id));
  });

  it('logs a throwing listener and still delivers to the others; publish does not throw', () => {
    const { logger, lines } = capturingLogger();
    const bus = new InMemoryEventBus({ logger });
    const calls: string[] = [];
    bus.subscribe('s1', () => calls.push('before'));
    bus.subscribe('s1', () => {
      throw new Error('listener exploded');
    });
    bus.subscribeAll(() => {
      throw new TypeError('all-listener exploded');
    });
    bus.subscribe('s1', () => calls.push('after'));

    const published = event('s1');
    expect(() => bus.publish(published)).not.toThrow();
    expect(calls).toEqual(['before', 'after']);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ level: 50, sessionId: 's1', eventId: published.id, err: { message: 'listener exploded' } });
    expect(lines[1]).toMatchObject({ err: { type: 'TypeError', message: 'all-listener exploded' } });
  });

  it('survives a throwing listener without a logger', () => {
    const bus = new InMemoryEventBus();
    const calls: string[] = [];
    bus.subscribe('s1', () => {
      throw new Error('no logger');
    });
    bus.subscribe('s1', () => calls.push('ok'));
    expect(() => bus.publish(event('s1'))).not.toThrow();
    expect(calls).toEqual(['ok']);
  });

  it('stops delivering after unsubscribe, and unsubscribing twice is harmless', () => {
    const bus = new InMemoryEventBus();
    const seen: string[] = [];
    const offSession = bus.subscribe('s1', () => seen.push('session'));
    const offAll = bus.subscribeAll(() => seen.push('all'));
    bus.publish(event('s1'));
    offSession();
    offSession();
    offAll();
    offAll();
    bus.publish(event('s1'));
    expect(seen).toEqual(['session', 'all']);
  });

  it('treats the same function subscribed twice as two subscriptions', () => {
    const bus = new InMemoryEventBus();
    let count = 0;
    const listener = (): void => {
      count++;
    };
    const offFirst = bus.subscribe('s1', listener);
    bus.subscribe('s1', listener);
    bus.publish(event('s1'));
    expect(count).toBe(2);
    offFirst();
    bus.publish(event('s1'));
    expect(count).toBe(3);
  });

  it('is safe to unsubscribe during a publish: self, a later listener, and subscribing mid-publish', () => {
    const bus = new InMemoryEventBus();
    const calls: string[] = [];
    let offLater: () => void = () => undefined;
    const offSelf = bus.subscribe('s1', (e) => {
      calls.push(`once:${e.id}`);
      offSelf();
    });
    bus.subscribe('s1', (e) => {
      calls.push(`remover:${e.id}`);
      offLater();
      bus.subscribe('s1', (late) => calls.push(`late:${late.id}`));
    });
    offLater = bus.subscribe('s1', (e) => calls.push(`later:${e.id}`));
    bus.subscribe('s1', (e) => calls.push(`last:${e.id}`));

    const first = event('s1');
    bus.publish(first);
    // `later` was removed before its turn; `late` joined during the publish and waits for the next.
    expect(calls).toEqual([`once:${first.id}`, `remover:${first.id}`, `last:${first.id}`]);

    calls.length = 0;
    const second = event('s1');
    bus.publish(second);
    expect(calls).toEqual([`remover:${second.id}`, `last:${second.id}`, `late:${second.id}`]);
  });

  it('leaves no map entry for a session once its last listener is gone', () => {
    const bus = new InMemoryEventBus();
    const offs = Array.from({ length: 100 }, (_, i) => bus.subscribe(`session-${i % 10}`, () => undefined));
    expect(bus.subscribedSessionCount).toBe(10);
    offs.slice(0, 95).forEach((off) => off());
    expect(bus.subscribedSessionCount).toBe(5);
    offs.slice(95).forEach((off) => off());
    expect(bus.subscribedSessionCount).toBe(0);

    // Unsubscribing from inside a publish also cleans up.
    const off = bus.subscribe('s1', () => off());
    bus.publish(event('s1'));
    expect(bus.subscribedSessionCount).toBe(0);

    // A stale unsubscribe must not remove a newer subscription to the same session.
    const stale = bus.subscribe('s2', () => undefined);
    stale();
    const seen: number[] = [];
    bus.subscribe('s2', (e) => seen.push(e.id));
    stale();
    const e2 = event('s2');
    bus.publish(e2);
    expect(seen).toEqual([e2.id]);
    expect(bus.subscribedSessionCount).toBe(1);
  });
});
