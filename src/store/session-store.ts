import type {
  Message,
  MessageRole,
  Session,
  SessionEvent,
  SessionEventType,
  SessionMode,
  SessionResult,
  SessionStatus,
  TaskOptions,
  TaskOrigin,
  TokenUsage,
} from '../model/session.js';

export interface NewSession {
  id: string;
  repo: string;
  prompt: string;
  mode: SessionMode;
  branch: string;
  agent: string;
  model: string | null;
  origin: TaskOrigin;
  options?: TaskOptions;
  /** Records this delivery id as processed by the new session, in the same transaction. */
  deliveryId?: string;
  /** What kind of delivery (e.g. the webhook event name), for the record. */
  deliveryKind?: string;
}

/** Fields the engine may change after creation. `updatedAt` is set by the store. */
export interface SessionPatch {
  status?: SessionStatus;
  prUrl?: string | null;
  prNumber?: number | null;
  result?: SessionResult | null;
  error?: string | null;
  model?: string | null;
  usage?: TokenUsage;
  /** Doors may add what they learn after the session starts (e.g. the tracking comment's id). */
  origin?: TaskOrigin;
}

export interface ListSessionsOptions {
  status?: SessionStatus | SessionStatus[];
  limit?: number;
}

/**
 * Persistence for sessions, their chat messages and their append-only event history.
 * Every method is synchronous so that "stored, then published" ordering is trivially true;
 * an implementation over a network database would wrap an async store behind the same engine.
 */
export interface SessionStore {
  /**
   * Stores a new session. With a deliveryId it throws DuplicateDeliveryError when that delivery
   * already has a session, so concurrent duplicates create exactly one.
   */
  createSession(input: NewSession): Session;
  /**
   * Claims a delivery id before any side effect of handling it (a reaction, a comment): true for
   * the first claim, false when it was claimed or processed before.
   */
  claimDelivery(deliveryId: string, kind: string): boolean;
  /** Gives a claim back when handling failed before a session was stored, so a redelivery retries. */
  releaseDelivery(deliveryId: string): void;
  getSession(id: string): Session | undefined;
  /** Newest first. */
  listSessions(options?: ListSessionsOptions): Session[];
  /** Returns the updated session; throws if the id is unknown. */
  updateSession(id: string, patch: SessionPatch): Session;

  appendEvent(sessionId: string, type: SessionEventType, data: unknown): SessionEvent;
  /** Events of one session with id > afterId, oldest first. */
  listEvents(sessionId: string, afterId?: number): SessionEvent[];

  /**
   * With a delivery (a chat platform's update id), the message and the delivery's record are
   * stored in one transaction: DuplicateDeliveryError when that delivery was handled before.
   */
  addMessage(sessionId: string, role: MessageRole, content: string, delivery?: { id: string; kind: string }): Message;
  listMessages(sessionId: string): Message[];

  /**
   * Points a conversation of a chat door (`slack:T1:C1:1700000000.000100`, `telegram:42`) at a
   * session, replacing the session it pointed at; kept across restarts so a thread or a chat
   * goes on with its session.
   */
  bindConversation(key: string, sessionId: string): void;
  /** The session a conversation points at, if any. */
  conversationSession(key: string): string | undefined;

  /** Keeps the diff of what a session delivered (replacing an earlier one: a chat's later `/pr`). */
  saveDiff(sessionId: string, diff: string): void;
  getDiff(sessionId: string): string | undefined;

  /**
   * This deployment's id, made once and kept with its data. Docker labels carry it so that two
   * TeleCoders on one engine (say two compose projects that both mount their data at /data) never
   * sweep each other's sandboxes; a path cannot tell them apart, their databases can.
   */
  instanceId(): string;

  close(): void;
}
