import type { SessionService } from '../../engine/session-service.js';
import type { EventBus } from '../../events/event-bus.js';
import type { Logger } from '../../logger.js';
import type { Session, SessionEvent } from '../../model/session.js';
import type { InstallationAuth } from './github-api.js';
import { isGitHubOrigin, type GitHubOrigin } from './github-origin.js';
import { editComment } from './handle-webhook.js';
import { describeToolCall, renderReviewReply, renderTrackingComment } from './tracking-comment-text.js';
import { sessionLink } from '../../channels/session-text.js';

export interface TrackingCommentReporterOptions {
  bus: EventBus;
  sessions: Pick<SessionService, 'get'>;
  /** An Octokit authenticated as the installation (Probot's `app.auth`). */
  auth: InstallationAuth;
  logger: Logger;
  /** Least time between two edits of one comment; default 2 s. The final state is never delayed. */
  minIntervalMs?: number;
  /** Stores the origin once its tracking comment exists, so a restarted server can finalize it. */
  saveOrigin(sessionId: string, origin: GitHubOrigin): void;
  /** TELECODER_PUBLIC_URL: the comment links to the session's dashboard page when it is set. */
  publicUrl?: string | undefined;
}

interface CommentState {
  origin: GitHubOrigin;
  /** The pipeline's current step and stage, when the task runs through stages. */
  progress?: string;
  /** The agent's latest tool call. */
  step?: string;
  /** Something changed since the last write began. */
  dirty: boolean;
  final: boolean;
  inFlight?: Promise<void>;
  timer?: NodeJS.Timeout;
  lastWriteAt: number;
}

const EVENTS_THAT_CHANGE_THE_COMMENT = new Set(['status', 'progress', 'tool', 'done', 'result', 'error']);

/** "Step 2/3: add the rate limiter — verifying", from a pipeline 'progress' event. */
function describeProgress(data: unknown): string | undefined {
  const { step, total, title, status } = (data ?? {}) as { step?: unknown; total?: unknown; title?: unknown; status?: unknown };
  if (typeof step !== 'number' || typeof total !== 'number') return undefined;
  const name = typeof title === 'string' && title.trim() ? `: ${title.trim().slice(0, 120)}` : '';
  return `Step ${step}/${total}${name}${typeof status === 'string' ? ` — ${status}` : ''}`;
}

/**
 * Keeps the tracking comment of every session that came from GitHub up to date: queued, working
 * (with the agent's latest tool call), then the outcome. Edits are coalesced — at most one in
 * flight per session, at least `minIntervalMs` apart, always rendering the latest state — and the
 * final state is always written, followed by a threaded reply when a line comment asked.
 *
 * Subscribe it before the engine starts so that sessions the engine finishes during recovery get
 * their comments finalized too. Its failures are logged, never thrown into the engine.
 */
export class TrackingCommentReporter {
  readonly #options: TrackingCommentReporterOptions;
  readonly #states = new Map<string, CommentState>();
  readonly #ignored = new Set<string>();
  #unsubscribe?: () => void;

  constructor(options: TrackingCommentReporterOptions) {
    this.#options = options;
  }

  start(): void {
    this.#unsubscribe ??= this.#options.bus.subscribeAll((event) => {
      try {
        this.#onEvent(event);
      } catch (error) {
        this.#options.logger.warn({ err: error, session: event.sessionId }, 'tracking comment reporter failed on an event');
      }
    });
  }

  stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }

  /** Resolves once every scheduled edit (final ones included) has been written or has failed. */
  async idle(): Promise<void> {
    for (;;) {
      const busy = [...this.#states.values()].filter((state) => state.inFlight || state.timer);
      if (busy.length === 0) return;
      await Promise.allSettled(busy.map((state) => state.inFlight ?? new Promise((resolve) => setTimeout(resolve, 50))));
    }
  }

  #onEvent(event: SessionEvent): void {
    if (!EVENTS_THAT_CHANGE_THE_COMMENT.has(event.type) || this.#ignored.has(event.sessionId)) return;
    let state = this.#states.get(event.sessionId);
    if (!state) {
      const origin = this.#session(event.sessionId)?.origin;
      if (!isGitHubOrigin(origin)) {
        this.#ignore(event.sessionId);
        return;
      }
      state = { origin, dirty: false, final: false, lastWriteAt: 0 };
      this.#states.set(event.sessionId, state);
    }
    if (state.final) return;
    if (event.type === 'tool') state.step = describeToolCall(event.data) ?? state.step;
    if (event.type === 'progress') {
      state.progress = describeProgress(event.data) ?? state.progress;
      state.step = undefined;
    }
    if (event.type === 'done') state.final = true;
    state.dirty = true;
    this.#schedule(event.sessionId, state);
  }

  /** Remembers sessions not to look up again; forgotten in bulk so a long-lived server stays small. */
  #ignore(id: string): void {
    if (this.#ignored.size >= 10_000) this.#ignored.clear();
    this.#ignored.add(id);
  }

  #session(id: string): Session | undefined {
    try {
      return this.#options.sessions.get(id);
    } catch {
      return undefined;
    }
  }

  #schedule(id: string, state: CommentState): void {
    if (state.inFlight || (state.timer && !state.final)) return;
    const wait = state.final ? 0 : state.lastWriteAt + (this.#options.minIntervalMs ?? 2_000) - Date.now();
    if (wait > 0) {
      state.timer = setTimeout(() => {
        state.timer = undefined;
        this.#write(id, state);
      }, wait);
      return;
    }
    clearTimeout(state.timer);
    state.timer = undefined;
    this.#write(id, state);
  }

  #write(id: string, state: CommentState): void {
    state.dirty = false;
    state.lastWriteAt = Date.now();
    const final = state.final;
    state.inFlight = this.#publish(id, state, final)
      .catch((error: unknown) => {
        this.#options.logger.warn({ err: error, session: id }, 'could not update the GitHub tracking comment');
      })
      .finally(() => {
        state.inFlight = undefined;
        if (final) {
          this.#states.delete(id);
          this.#ignore(id);
        } else if (state.dirty) {
          this.#schedule(id, state);
        }
      });
  }

  async #publish(id: string, state: CommentState, final: boolean): Promise<void> {
    const session = this.#session(id);
    if (!session) return;
    const { origin } = state;
    const where = { owner: origin.owner, repo: origin.repo };
    const github = await this.#options.auth(origin.installationId);
    const now = [state.progress, state.step].filter(Boolean).join(', ');
    const step = session.status === 'running' && now ? now : undefined;
    const body = renderTrackingComment(session, step, sessionLink(session, this.#options.publicUrl));
    // The origin in the store is the truth: a comment created before a restart is edited, not duplicated.
    const stored = session.origin as GitHubOrigin;
    if (stored.trackingCommentId !== undefined) origin.trackingCommentId = stored.trackingCommentId;
    if (origin.trackingCommentId === undefined) {
      const { data } = await github.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', {
        ...where,
        issue_number: origin.number,
        body,
      });
      origin.trackingCommentId = Number(data.id);
      this.#options.saveOrigin(id, origin);
    } else {
      await editComment(github, where, origin.trackingCommentId, body);
    }
    if (final && origin.reviewCommentId !== undefined) {
      await github.request('POST /repos/{owner}/{repo}/pulls/{pull_number}/comments/{comment_id}/replies', {
        ...where,
        pull_number: origin.number,
        comment_id: origin.reviewCommentId,
        body: renderReviewReply(session),
      });
    }
  }
}
