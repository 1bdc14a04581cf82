import type { SessionService } from '../engine/session-service.js';
import type { EventBus } from '../events/event-bus.js';
import type { Logger } from '../logger.js';
import type { SessionStore } from '../store/session-store.js';

/**
 * A chat door (Slack, Telegram): it translates between its platform and the engine's
 * TaskRequests and session events, and nothing else. The app starts it after the engine is
 * taking work and stops it before the engine closes.
 */
export interface Channel {
  /** `slack`, `telegram`: also the `kind` of the origin of the sessions it starts. */
  readonly name: string;
  /**
   * Connects and starts taking messages. A platform that cannot be reached must not fail the
   * server: log why and retry with backoff in the background, and resolve.
   */
  start(): Promise<void>;
  /** Stops taking messages (stops polling, stops acknowledging events); replies still go out. */
  stop(): Promise<void>;
  /**
   * Called after the engine closed, so sessions the shutdown interrupted have ended: posts what is
   * still owed (their outcomes) within `deadline` (ms since the epoch), then lets go of the platform.
   */
  close(deadline: number): Promise<void>;
}

/** What a door gets from the app. */
export interface ChannelContext {
  sessions: SessionService;
  bus: EventBus;
  /** Conversation → session bindings and delivery claims (exactly-once across restarts). */
  store: Pick<SessionStore, 'bindConversation' | 'conversationSession' | 'claimDelivery' | 'releaseDelivery'>;
  logger: Logger;
  /** TELECODER_PUBLIC_URL, for links to a session, when set. */
  publicUrl?: string | undefined;
}

export type ChannelFactory = (context: ChannelContext) => Channel;
