import type {
  Message,
  MessageRole,
  Session,
  SessionEvent,
  SessionEventType,
  SessionMode,
  SessionResult,
  SessionStatus,
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
  createSession(input: NewSession): Session;
  getSession(id: string): Session | undefined;
  /** Newest first. */
  listSessions(options?: ListSessionsOptions): Session[];
  /** Returns the updated session; throws if the id is unknown. */
  updateSession(id: string, patch: SessionPatch): Session;

  appendEvent(sessionId: string, type: SessionEventType, data: unknown): SessionEvent;
  /** Events of one session with id > afterId, oldest first. */
  listEvents(sessionId: string, afterId?: number): SessionEvent[];

  addMessage(sessionId: string, role: MessageRole, content: string): Message;
  listMessages(sessionId: string): Message[];

  close(): void;
}
