import type { SessionService } from '../engine/session-service.js';
import type { EventBus } from '../events/event-bus.js';
import type { Logger } from '../logger.js';
import { isFinal, type Session, type SessionEvent } from '../model/session.js';
import type { ProgressMessage } from './progress-message.js';
import { describeToolCall } from '../github/app/tracking-comment-text.js';
import { progressText } from './session-text.js';

export interface FollowSessionOptions {
  sessions: Pick<SessionService, 'get'>;
  /** A failing `onEnd` is logged here, never left as an unhandled rejection. */
  logger: Logger;
  bus: EventBus;
  sessionId: string;
  message: ProgressMessage;
  /**
   * Called once with the session as it ended (a chat: when it goes idle after a message, or ends);
   * the door posts the outcome. The progress message has its final text by then.
   */
  onEnd(session: Session): Promise<void> | void;
  /** A chat's message ends when the session goes idle, not only when it is final. */
  untilIdle?: boolean;
}

/**
 * Keeps one progress message in step with a session's events until it ends, then hands the
 * session to `onEnd`. Returns a function that stops following without calling `onEnd`.
 */
export function followSession(options: FollowSessionOptions): () => void {
  const { sessions, bus, sessionId, message } = options;
  let step: string | undefined;
  let ended = false;
  const ends = (session: Session) => isFinal(session.status) || (options.untilIdle === true && session.status === 'idle');
  const end = (session: Session) => {
    if (ended) return;
    ended = true;
    unsubscribe();
    void message
      .finish(progressText(session))
      .then(() => options.onEnd(session))
      .catch((error: unknown) => options.logger.warn({ err: error, session: sessionId }, 'could not post the outcome of a session'));
  };
  const onEvent = (event: SessionEvent) => {
    if (ended) return;
    if (event.type === 'tool') step = describeToolCall(event.data) ?? step;
    if (!['status', 'tool', 'done'].includes(event.type)) return;
    const session = sessions.get(sessionId);
    if (ends(session) && (event.type === 'done' || (options.untilIdle && session.status === 'idle'))) {
      end(session);
      return;
    }
    message.update(progressText(session, step));
  };
  const unsubscribe = bus.subscribe(sessionId, onEvent);
  // It may have moved (or ended) before the subscription.
  const now = sessions.get(sessionId);
  if (ends(now)) end(now);
  else message.update(progressText(now, step));
  return () => {
    ended = true;
    unsubscribe();
  };
}
