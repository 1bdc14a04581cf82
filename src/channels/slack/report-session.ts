import type { SessionService } from '../../engine/session-service.js';
import type { EventBus } from '../../events/event-bus.js';
import type { Logger } from '../../logger.js';
import { isFinal, type Session } from '../../model/session.js';
import { fitMessage, ProgressMessage } from '../progress-message.js';
import { followSession } from '../session-progress.js';
import { outcomeText, sessionLink } from '../session-text.js';
import { MESSAGE_TEXT_LIMIT, SECTION_TEXT_LIMIT, type SlackReplies, type SlackThread } from './slack-replies.js';

export interface ReportSessionOptions {
  sessions: Pick<SessionService, 'get' | 'messages'>;
  bus: EventBus;
  replies: SlackReplies;
  logger: Logger;
  sessionId: string;
  thread: SlackThread;
  /** A chat's message: report until the session is idle again, and answer with the agent's reply. */
  chat: boolean;
  /** Least time between two edits of the status message. */
  minIntervalMs: number;
  /** TELECODER_PUBLIC_URL: the outcome links to the session's dashboard page when it is set. */
  publicUrl?: string | undefined;
}

export interface SessionReport {
  /** Resolves once the outcome is posted (or could not be). */
  done: Promise<void>;
  /** Stops reporting, without an outcome. */
  cancel(): void;
}

/**
 * One status message in the thread, edited in place as the session moves (with a Stop button
 * while it runs), then one message with the outcome: the pull request, the answer, or why it failed.
 */
export function reportSession(options: ReportSessionOptions): SessionReport {
  const { sessions, replies, thread, sessionId } = options;
  let ts: Promise<string> | undefined;
  const message = new ProgressMessage({
    minIntervalMs: options.minIntervalMs,
    maxLength: SECTION_TEXT_LIMIT,
    logger: options.logger,
    write: async (text) => {
      // The button goes once the session has ended (a chat between messages keeps it: stop ends the chat).
      const stoppable = isFinal(sessions.get(sessionId).status) ? undefined : sessionId;
      if (!ts) {
        ts = replies.post(thread, text, stoppable);
        await ts;
        return;
      }
      await replies.update(thread.channel, await ts, text, stoppable);
    },
  });
  let cancel: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    cancel = followSession({
      sessions,
      logger: options.logger,
      bus: options.bus,
      sessionId,
      message,
      untilIdle: options.chat,
      onEnd: async (session) => {
        // Resolved even when the post fails (followSession logs it): close() must not wait on it.
        try {
          await replies.tell(thread, finalText(options, session));
        } finally {
          resolve();
        }
      },
    });
    const cancelFollowing = cancel;
    cancel = () => {
      cancelFollowing();
      resolve();
    };
  });
  return { done, cancel: () => cancel() };
}

/** A chat's message ends with the agent's reply; anything else with its outcome; both with the link, never cut off. */
function finalText(options: ReportSessionOptions, session: Session): string {
  const link = sessionLink(session, options.publicUrl);
  if (!link) return fitMessage(replyOrOutcome(options, session), MESSAGE_TEXT_LIMIT);
  return `${fitMessage(replyOrOutcome(options, session), MESSAGE_TEXT_LIMIT - link.length - 2)}\n\n${link}`;
}

function replyOrOutcome(options: ReportSessionOptions, session: Session): string {
  if (options.chat && session.status === 'idle') {
    const reply = options.sessions.messages(session.id).filter((message) => message.role === 'assistant').at(-1);
    if (reply?.content.trim()) return reply.content;
  }
  return outcomeText(session);
}
