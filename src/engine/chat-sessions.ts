import type { GitWorkspace } from '../git/git-workspace.js';
import type { Logger } from '../logger.js';
import type { Sandbox } from '../sandbox/runtime.js';
import { releaseWorkspace, type PreparedWorkspace } from './prepare-workspace.js';

/** A chat's persistent parts: they live from its first message until it ends. */
export interface LiveChat {
  readonly sessionId: string;
  /** The server's clone: only a pull request needs it, so it may still be in the making. */
  readonly clone: Promise<GitWorkspace>;
  readonly sandbox: Sandbox;
  /** The commit the chat's work started from (what `/diff` compares with). */
  readonly base: { sha: string; branch: string };
  /** When the last message or pull request finished (ms since the epoch). */
  lastActivity: number;
  /** A pull request is being made from the sandbox right now (set by ChatSessions.deliver). */
  delivering: boolean;
  /**
   * What the last `/pr` got done: the commit its push put on the branch, and whether its pull
   * request step finished. A `/pr` that failed half-way is finished by the next one from here.
   */
  published?: { pushedSha: string | undefined; pullRequestDone: boolean };
  /** Told to the agent with every message when workspace setup failed. */
  setupProblem?: string;
}

export interface CloseChatOptions {
  /** How long a `/pr` in flight may take to finish before it is aborted; default 15 s. */
  waitMs?: number;
  /** Why the chat is closed; the abort reason a `/pr` still in flight sees. */
  reason?: string;
}

interface Delivery {
  done: Promise<void>;
  controller: AbortController;
}

const DEFAULT_DELIVERY_WAIT_MS = 15_000;
/** After an abort, git is killed at once; this only bounds a step that ignores the signal. */
const ABORTED_DELIVERY_WAIT_MS = 2_000;

function settledWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    timer.unref();
    void promise.then(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/**
 * The live chats of this process: each one's sandbox and server-side clone, kept between
 * messages, and when it was last used (for the idle reaper).
 */
export class ChatSessions {
  readonly #chats = new Map<string, LiveChat>();
  readonly #deliveries = new Map<string, Delivery>();
  readonly #logger: Logger;
  readonly #now: () => number;

  constructor(options: { logger: Logger; now?: () => number }) {
    this.#logger = options.logger;
    this.#now = options.now ?? Date.now;
  }

  get(sessionId: string): LiveChat | undefined {
    return this.#chats.get(sessionId);
  }

  add(sessionId: string, prepared: PreparedWorkspace): LiveChat {
    const chat: LiveChat = { sessionId, sandbox: prepared.sandbox, clone: prepared.clone, base: prepared.base, lastActivity: this.#now(), delivering: false };
    this.#chats.set(sessionId, chat);
    return chat;
  }

  touch(sessionId: string): void {
    const chat = this.#chats.get(sessionId);
    if (chat) chat.lastActivity = this.#now();
  }

  /** Chats unused for longer than `idleMs` and not making a pull request. */
  idleLongerThan(idleMs: number): string[] {
    return [...this.#chats.keys()].filter((id) => this.isIdleLongerThan(id, idleMs));
  }

  /** Asked again right before a chat is reaped: a `/pr` may have started since the list was made. */
  isIdleLongerThan(sessionId: string, idleMs: number): boolean {
    const chat = this.#chats.get(sessionId);
    return chat !== undefined && !chat.delivering && chat.lastActivity < this.#now() - idleMs;
  }

  /**
   * Runs a `/pr` for the chat. While it runs the chat is `delivering` (the reaper passes it by)
   * and close waits for it, so the clone is never removed under a push.
   */
  async deliver<T>(chat: LiveChat, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (chat.delivering) throw new Error(`chat ${chat.sessionId} is already making a pull request`);
    const controller = new AbortController();
    let settle!: () => void;
    const done = new Promise<void>((resolve) => (settle = resolve));
    chat.delivering = true;
    this.#deliveries.set(chat.sessionId, { done, controller });
    try {
      return await work(controller.signal);
    } finally {
      this.#deliveries.delete(chat.sessionId);
      chat.delivering = false;
      this.touch(chat.sessionId);
      settle();
    }
  }

  ids(): string[] {
    return [...this.#chats.keys()];
  }

  /**
   * Removes the chat's sandbox and clone; nothing to do when it is not live. A `/pr` in flight is
   * given `waitMs` to finish (its push and pull request then exist), then aborted and awaited.
   */
  async close(sessionId: string, options: CloseChatOptions = {}): Promise<void> {
    const chat = this.#chats.get(sessionId);
    if (!chat) return;
    // Forgotten first, so nothing picks the chat up while its parts are being removed.
    this.#chats.delete(sessionId);
    const delivery = this.#deliveries.get(sessionId);
    if (delivery && !(await settledWithin(delivery.done, options.waitMs ?? DEFAULT_DELIVERY_WAIT_MS))) {
      this.#logger.warn({ session: sessionId }, 'a pull request was still being made when the chat closed; aborting it');
      delivery.controller.abort(options.reason ?? 'closed');
      if (!(await settledWithin(delivery.done, ABORTED_DELIVERY_WAIT_MS))) {
        this.#logger.warn({ session: sessionId }, 'the aborted pull request did not end; removing the chat anyway');
      }
    }
    await releaseWorkspace(chat, this.#logger, sessionId);
  }
}
