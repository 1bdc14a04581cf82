import type { Logger } from '../logger.js';
import type { SessionEvent } from '../model/session.js';
import type { EventBus, EventListener } from './event-bus.js';

export interface InMemoryEventBusOptions {
  /** Where listener failures are reported. Without it they are dropped: the app always passes one. */
  logger?: Logger;
}

/** One subscribe() call. Its own object so the same function subscribed twice is two subscriptions. */
interface Subscription {
  /** Global subscription order, so session and all-session listeners interleave as subscribed. */
  readonly seq: number;
  readonly listener: EventListener;
  active: boolean;
}

/**
 * Event fan-out within one process. Delivery is synchronous, in subscription order, to a snapshot
 * of the subscribers taken when publish starts: a listener that subscribes during a publish gets
 * the next event, one that is unsubscribed during a publish gets nothing more.
 */
export class InMemoryEventBus implements EventBus {
  readonly #logger: Logger | undefined;
  readonly #bySession = new Map<string, Set<Subscription>>();
  readonly #all = new Set<Subscription>();
  #nextSeq = 0;

  constructor(options: InMemoryEventBusOptions = {}) {
    this.#logger = options.logger;
  }

  publish(event: SessionEvent): void {
    const forSession = this.#bySession.get(event.sessionId);
    const targets = mergeBySeq(forSession ? [...forSession] : [], [...this.#all]);
    for (const subscription of targets) {
      if (!subscription.active) continue;
      try {
        subscription.listener(event);
      } catch (error) {
        this.#logger?.error(
          { err: error, sessionId: event.sessionId, eventId: event.id, eventType: event.type },
          'event listener threw; other listeners still receive the event',
        );
      }
    }
  }

  subscribe(sessionId: string, listener: EventListener): () => void {
    let set = this.#bySession.get(sessionId);
    if (!set) {
      set = new Set();
      this.#bySession.set(sessionId, set);
    }
    const subscription = this.#newSubscription(listener);
    set.add(subscription);
    return () => {
      subscription.active = false;
      const current = this.#bySession.get(sessionId);
      if (!current) return;
      current.delete(subscription);
      // Sessions come and go forever: drop the entry with its last listener so the map can't grow.
      if (current.size === 0) this.#bySession.delete(sessionId);
    };
  }

  subscribeAll(listener: EventListener): () => void {
    const subscription = this.#newSubscription(listener);
    this.#all.add(subscription);
    return () => {
      subscription.active = false;
      this.#all.delete(subscription);
    };
  }

  /** Number of sessions with at least one listener; lets tests and metrics see that nothing leaks. */
  get subscribedSessionCount(): number {
    return this.#bySession.size;
  }

  #newSubscription(listener: EventListener): Subscription {
    return { seq: this.#nextSeq++, listener, active: true };
  }
}

/** Both inputs are already in seq order (Sets iterate in insertion order). */
function mergeBySeq(a: Subscription[], b: Subscription[]): Subscription[] {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  const merged: Subscription[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const left = a[i]!;
    const right = b[j]!;
    if (left.seq < right.seq) {
      merged.push(left);
      i++;
    } else {
      merged.push(right);
      j++;
    }
  }
  return merged.concat(a.slice(i), b.slice(j));
}
