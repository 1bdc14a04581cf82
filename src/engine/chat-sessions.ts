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
  /** When the last message or pull request finished (ms since the epoch). */
  lastActivity: number;
  /** A pull request is being made from the sandbox right now. */
  delivering: boolean;
  /** Told to the agent with every message when workspace setup failed. */
  setupProblem?: string;
}

/**
 * The live chats of this process: each one's sandbox and server-side clone, kept between
 * messages, and when it was last used (for the idle reaper).
 */
export class ChatSessions {
  readonly #chats = new Map<string, LiveChat>();
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
    const chat: LiveChat = { sessionId, sandbox: prepared.sandbox, clone: prepared.clone, lastActivity: this.#now(), delivering: false };
    this.#chats.set(sessionId, chat);
    return chat;
  }

  touch(sessionId: string): void {
    const chat = this.#chats.get(sessionId);
    if (chat) chat.lastActivity = this.#now();
  }

  /** Chats unused for longer than `idleMs` and not making a pull request. */
  idleLongerThan(idleMs: number): string[] {
    const cutoff = this.#now() - idleMs;
    return [...this.#chats.values()].filter((chat) => !chat.delivering && chat.lastActivity < cutoff).map((chat) => chat.sessionId);
  }

  ids(): string[] {
    return [...this.#chats.keys()];
  }

  /** Removes the chat's sandbox and clone; nothing to do when it is not live. */
  async close(sessionId: string): Promise<void> {
    const chat = this.#chats.get(sessionId);
    if (!chat) return;
    // Forgotten first, so nothing picks the chat up while its parts are being removed.
    this.#chats.delete(sessionId);
    await releaseWorkspace(chat, this.#logger, sessionId);
  }
}
