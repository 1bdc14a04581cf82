import type { SessionEvent } from '../model/session.js';

export type EventListener = (event: SessionEvent) => void;

/**
 * Live fan-out of stored events. Publishing never waits for a subscriber and a throwing or slow
 * subscriber cannot affect the engine or other subscribers: the store, not the bus, is the
 * complete history, so a subscriber that falls behind drops and replays from the store.
 */
export interface EventBus {
  publish(event: SessionEvent): void;
  /** Returns a function that removes the subscription. */
  subscribe(sessionId: string, listener: EventListener): () => void;
  /** Receives the events of every session (reporters for Slack, Telegram, GitHub use this). */
  subscribeAll(listener: EventListener): () => void;
}
