import type { SessionService } from '../../src/engine/session-service.js';
import { ConflictError, NotFoundError } from '../../src/errors.js';
import type { EventBus, EventListener } from '../../src/events/event-bus.js';
import {
  branchFor,
  isFinal,
  type Message,
  type Session,
  type SessionEvent,
  type SessionEventType,
  type SessionResult,
  type TaskRequest,
} from '../../src/model/session.js';
import type { SessionStore } from '../../src/store/session-store.js';

export interface StoreBackedSessionServiceOptions {
  store: SessionStore;
  bus: EventBus;
  /** Called after a session is stored: the test scripts what the "engine" does with it. */
  onSubmit?: (session: Session, service: StoreBackedSessionService) => void;
}

/**
 * Stands in for the engine in HTTP and CLI tests: sessions and events go through the real store
 * and the real bus, and the test drives the session with `emit` and `finish`.
 */
export class StoreBackedSessionService implements SessionService {
  readonly store: SessionStore;
  readonly bus: EventBus;
  #options: StoreBackedSessionServiceOptions;
  #counter = 0;
  #subscribers = new Map<string, number>();
  /** Thrown by the next call of any method: how tests reach the API's error paths. */
  failNext: Error | undefined;
  lastRequest: TaskRequest | undefined;

  constructor(options: StoreBackedSessionServiceOptions) {
    this.#options = options;
    this.store = options.store;
    this.bus = options.bus;
  }

  #checkFailure(): void {
    const error = this.failNext;
    this.failNext = undefined;
    if (error) throw error;
  }

  /** Accepts every request: the engine's own checks are tested against the engine (a real server). */
  async preflight(): Promise<void> {}

  submit(request: TaskRequest): Session {
    this.#checkFailure();
    this.lastRequest = request;
    this.#counter += 1;
    const id = `s${String(this.#counter).padStart(4, '0')}`;
    const session = this.store.createSession({
      id,
      repo: request.repo,
      prompt: request.prompt,
      mode: request.mode ?? 'task',
      branch: branchFor(id),
      agent: request.agent ?? 'builtin',
      model: request.model ?? null,
      origin: request.origin ?? { kind: 'test' },
    });
    this.emit(id, 'status', 'pending');
    this.#options.onSubmit?.(session, this);
    return session;
  }

  get(id: string): Session {
    this.#checkFailure();
    const session = this.store.getSession(id);
    if (!session) throw new NotFoundError(`no session with id "${id}"; list sessions with \`telecoder list\``);
    return session;
  }

  list(options: { limit?: number } = {}): Session[] {
    this.#checkFailure();
    return this.store.listSessions(options);
  }

  events(id: string, afterId?: number): SessionEvent[] {
    this.get(id);
    return this.store.listEvents(id, afterId);
  }

  subscribe(id: string, listener: EventListener): () => void {
    const unsubscribe = this.bus.subscribe(id, listener);
    this.#subscribers.set(id, (this.#subscribers.get(id) ?? 0) + 1);
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      this.#subscribers.set(id, (this.#subscribers.get(id) ?? 1) - 1);
      unsubscribe();
    };
  }

  /** Live subscriptions of a session: an SSE stream that ended must have released its own. */
  subscriberCount(id: string): number {
    return this.#subscribers.get(id) ?? 0;
  }

  async stop(id: string): Promise<Session> {
    const session = this.get(id);
    if (isFinal(session.status)) return session;
    return this.finish(id, 'stopped', { error: 'stopped by request' });
  }

  messages(id: string): Message[] {
    this.get(id);
    return this.store.listMessages(id);
  }

  sendMessage(id: string, content: string, options?: { deliveryId?: string }): Message {
    const session = this.get(id);
    if (session.mode !== 'chat') {
      throw new ConflictError(`session ${id} is a ${session.mode} session; messages can only be sent to chat sessions`);
    }
    return this.store.addMessage(id, 'user', content, options?.deliveryId !== undefined ? { id: options.deliveryId, kind: 'message' } : undefined);
  }

  async diff(id: string): Promise<string> {
    this.get(id);
    const diff = this.store.getDiff(id);
    if (diff === undefined) throw new ConflictError(`session ${id} has no diff to show`);
    return diff;
  }

  async createPullRequest(id: string): Promise<{ url: string | null; number: number | null; branch: string }> {
    const session = this.get(id);
    if (session.mode !== 'chat') {
      throw new ConflictError(`session ${id} is a ${session.mode} session; its pull request is opened when the task completes`);
    }
    const number = 7;
    const url = `https://github.com/${session.repo}/pull/${number}`;
    this.store.updateSession(id, { prUrl: url, prNumber: number });
    return { url, number, branch: session.branch };
  }

  emit(id: string, type: SessionEventType, data: unknown): SessionEvent {
    const event = this.store.appendEvent(id, type, data);
    this.bus.publish(event);
    return event;
  }

  setStatus(id: string, status: Session['status']): Session {
    const session = this.store.updateSession(id, { status });
    this.emit(id, 'status', status);
    return session;
  }

  /** Ends a session the way the engine does: error/result, status, then `done`. */
  finish(
    id: string,
    status: 'complete' | 'error' | 'stopped',
    fields: { error?: string; result?: SessionResult } = {},
  ): Session {
    const session = this.store.updateSession(id, {
      status,
      error: fields.error ?? null,
      ...(fields.result
        ? { result: fields.result, prUrl: fields.result.prUrl ?? null, prNumber: fields.result.prNumber ?? null }
        : {}),
    });
    if (fields.error) this.emit(id, 'error', fields.error);
    if (fields.result) this.emit(id, 'result', fields.result);
    this.emit(id, 'status', status);
    this.emit(id, 'done', { status, error: session.error, result: session.result });
    return session;
  }
}
