import type { EventListener } from '../events/event-bus.js';
import type { Message, Session, SessionEvent, TaskRequest } from '../model/session.js';

/**
 * What the doors (HTTP API, GitHub, Slack, Telegram) may ask of the engine. Methods throw
 * TeleCoderError subclasses (NotFoundError, ConflictError, TeleCoderError for bad input) whose
 * `status` the HTTP API returns as is.
 */
export interface SessionService {
  /** Validates, stores and queues the request; resolves once the session is stored. */
  submit(request: TaskRequest): Session;
  /**
   * Refuses, before anything is stored, a request this server cannot carry out: what the request
   * names is unusable (400: a path that is no git repository) or the server lacks a setting for it
   * (503: no LLM key, no GitHub token, Docker unreachable). Doors that can wait call it before
   * submit, so the person asking reads the reason at once instead of in a failed session.
   */
  preflight(request: TaskRequest, signal?: AbortSignal): Promise<void>;
  get(id: string): Session;
  list(options?: { limit?: number }): Session[];
  events(id: string, afterId?: number): SessionEvent[];
  /** Live events of one session; call after reading stored ones and de-duplicate by id. */
  subscribe(id: string, listener: EventListener): () => void;
  /** Kills the sandbox, aborts the LLM call in flight; resolves with the stopped session. */
  stop(id: string): Promise<Session>;
  messages(id: string): Message[];
  /**
   * Chat mode: adds a user message and runs the agent on it. With a `deliveryId` (the platform's
   * id of the message) the message is stored with that id's record in one transaction: a second
   * call with the same id adds nothing (DuplicateDeliveryError).
   */
  sendMessage(id: string, content: string, options?: { deliveryId?: string; deliveryKind?: string }): Message;
  /**
   * Chat mode: commits what the chat produced, pushes it to the session's branch and opens a pull
   * request (once: later calls push further commits to it). `url` and `number` are null where
   * the repository has no pull requests (a local repository): the work is on `branch`.
   */
  createPullRequest(id: string): Promise<ChatPullRequest>;
  /**
   * The session's change as a readable unified diff: a live chat's read from its sandbox,
   * otherwise what it delivered. A ConflictError says why there is none (an answer, a failure,
   * not delivered yet).
   */
  diff(id: string): Promise<string>;
}

/** What a chat's `/pr` delivered. */
export interface ChatPullRequest {
  url: string | null;
  number: number | null;
  branch: string;
  /** The pull request was opened as a draft (workflow changes were held back). */
  draft?: boolean;
  /** Changed CI workflow files that were not pushed (see TaskOptions.allowWorkflowChanges). */
  heldBack?: string[];
  /** What is not as asked, in one sentence (the held-back files and where their content is). */
  warning?: string;
}
