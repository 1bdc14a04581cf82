import type { SessionService } from '../../engine/session-service.js';
import { DuplicateDeliveryError, TeleCoderError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { isFinal, type Session, type TaskRequest } from '../../model/session.js';
import type { AllowList } from '../allow-list.js';
import type { ChannelContext } from '../channel.js';
import { chooseRepo, parseTaskText } from '../task-text.js';
import { conversationKey, isStopCommand, type SlackMessage } from './slack-message.js';
import type { SlackReplies, SlackThread } from './slack-replies.js';
import { revisablePullRequest, revisionRequest } from './slack-revision.js';

export interface SlackMessageHandlerOptions {
  sessions: SessionService;
  store: ChannelContext['store'];
  allowList: AllowList;
  /** SLACK_DEFAULT_REPO. */
  defaultRepo: string | undefined;
  replies: SlackReplies;
  /** Reports a session in `thread` from now on: the status message, then the outcome. */
  follow(sessionId: string, thread: SlackThread, options: { chat: boolean }): void;
  logger: Logger;
}

const USAGE =
  'Tell me what to do: `@TeleCoder <task> [--repo owner/name]` in a channel starts a task, `@TeleCoder stop` in its thread stops it, ' +
  'and a mention in the thread of a finished pull request revises it. In a direct message, just write: each message continues the chat.';

/**
 * One message to the bot, already acknowledged: claims its event id (a redelivery does nothing),
 * checks the allow-list, then stops, chats, revises or starts a task. Every answer goes to the
 * message's thread (or the DM); nothing is thrown back at Bolt.
 */
export async function handleSlackMessage(options: SlackMessageHandlerOptions, message: SlackMessage): Promise<void> {
  const { store, replies, logger } = options;
  const deliveryId = `slack:${message.eventId}`;
  const log = logger.child({ slackEvent: message.eventId, channel: message.channel, user: message.user });
  if (!store.claimDelivery(deliveryId, 'slack')) {
    log.debug({ retry: message.retryNum }, 'Slack event already handled (a redelivery)');
    return;
  }
  // In a channel the reply goes to the message's thread (a new one under a top-level mention).
  const thread: SlackThread = { channel: message.channel, threadTs: message.direct ? undefined : (message.threadTs ?? message.ts) };
  try {
    if (!options.allowList.allows(message.user)) {
      log.info('refused: not on SLACK_ALLOWED_USERS');
      await replies.tell(thread, `🚫 ${options.allowList.refusal(message.user)}`);
      return;
    }
    const key = conversationKey(message);
    const bound = boundSession(options.sessions, store.conversationSession(key));
    if (isStopCommand(message.text)) return await stopCommand(options, thread, bound, message);
    if (message.text === '') return await replies.tell(thread, USAGE);
    if (message.direct) return await chatMessage(options, { message, thread, key, bound, deliveryId });
    return await taskMention(options, { message, thread, key, bound, deliveryId });
  } catch (error) {
    if (error instanceof DuplicateDeliveryError) return;
    if (error instanceof TeleCoderError) {
      // A definite answer (no repository named, a chat that is busy, a server missing a setting):
      // the event stays handled, and a redelivery does not ask again.
      log.info({ reason: error.message }, 'Slack request refused');
      await replies.tell(thread, `⚠️ ${error.message}`);
      return;
    }
    // Nothing was started: give the claim back so that Slack's redelivery can try again.
    store.releaseDelivery(deliveryId);
    log.error({ err: error }, 'could not handle a Slack message');
    await replies.tell(thread, `❌ TeleCoder could not start this: ${error instanceof Error ? error.message : String(error)}`);
  }
}

interface Incoming {
  message: SlackMessage;
  thread: SlackThread;
  key: string;
  bound: Session | undefined;
  deliveryId: string;
}

/** The session a conversation points at, unless it was deleted meanwhile. */
function boundSession(sessions: SessionService, id: string | undefined): Session | undefined {
  if (!id) return undefined;
  try {
    return sessions.get(id);
  } catch {
    return undefined;
  }
}

async function stopCommand(options: SlackMessageHandlerOptions, thread: SlackThread, bound: Session | undefined, message: SlackMessage) {
  if (!bound || isFinal(bound.status)) {
    await options.replies.tell(thread, message.direct ? 'Nothing is running in this chat.' : 'Nothing is running in this thread.');
    return;
  }
  react(options, message);
  // The session's follower posts the outcome ("Stopped …") once it has ended.
  await options.sessions.stop(bound.id);
}

async function chatMessage(options: SlackMessageHandlerOptions, incoming: Incoming) {
  const { message, thread, key, bound } = incoming;
  const task = parseTaskText(message.text);
  // A DM goes on with its chat while that lives; --repo naming another repository starts a new one.
  if (bound && !isFinal(bound.status) && (!task.repo || task.repo === bound.repo)) {
    if (bound.status !== 'idle') {
      await options.replies.tell(thread, `I am still on your last message (session ${bound.id}); wait for the answer, or say \`stop\`.`);
      return;
    }
    options.sessions.sendMessage(bound.id, task.prompt, { deliveryId: incoming.deliveryId, deliveryKind: 'slack' });
    react(options, message);
    options.follow(bound.id, thread, { chat: true });
    return;
  }
  const repo = chooseRepo(task, { defaultRepo: options.defaultRepo, defaultVariable: 'SLACK_DEFAULT_REPO' });
  await start(options, incoming, { repo, prompt: task.prompt, mode: 'chat' });
}

async function taskMention(options: SlackMessageHandlerOptions, incoming: Incoming) {
  const { message, thread, bound } = incoming;
  if (bound && !isFinal(bound.status)) {
    await options.replies.tell(
      thread,
      `TeleCoder is still working on session ${bound.id} in this thread. Wait for it, or say \`@TeleCoder stop\` to stop it.`,
    );
    return;
  }
  const task = parseTaskText(message.text);
  // A mention in the thread of a delivered pull request revises it, unless it names another repository.
  if (bound && revisablePullRequest(bound) && (!task.repo || task.repo === bound.repo)) {
    await start(options, incoming, revisionRequest(bound, task.prompt));
    return;
  }
  const repo = chooseRepo(task, { defaultRepo: options.defaultRepo, defaultVariable: 'SLACK_DEFAULT_REPO' });
  await start(options, incoming, { repo, prompt: task.prompt, mode: 'task' });
}

/** Checks, stores and queues the request, binds the conversation to it, and starts reporting. */
async function start(options: SlackMessageHandlerOptions, incoming: Incoming, work: Omit<TaskRequest, 'origin' | 'deliveryId'>) {
  const { message, thread } = incoming;
  const request: TaskRequest = {
    ...work,
    origin: {
      kind: 'slack',
      requestedBy: message.user,
      team: message.team,
      channel: message.channel,
      threadTs: thread.threadTs,
      user: message.user,
      messageTs: message.ts,
    },
    deliveryId: incoming.deliveryId,
  };
  // Refusals the server knows before storing anything (no LLM key, Docker down) are answered now.
  await options.sessions.preflight(request);
  const session = options.sessions.submit(request);
  options.store.bindConversation(incoming.key, session.id);
  options.logger.info({ session: session.id, user: message.user, channel: message.channel, mode: session.mode }, 'Slack session queued');
  react(options, message);
  options.follow(session.id, thread, { chat: session.mode === 'chat' });
}

/** 👀 on the message that was taken up; in the background, as it changes nothing about the work. */
function react(options: SlackMessageHandlerOptions, message: SlackMessage) {
  options.replies
    .react(message.channel, message.ts, 'eyes')
    .catch((error: unknown) => options.logger.warn({ err: error, channel: message.channel }, 'could not add the 👀 reaction'));
}

/** The Stop button on a status message: the clicker must be on the allow-list, like any other trigger. */
export async function handleStopButton(
  options: Pick<SlackMessageHandlerOptions, 'sessions' | 'allowList' | 'replies' | 'logger'>,
  click: { user: string; channel: string; threadTs?: string | undefined; sessionId: string },
): Promise<void> {
  const thread: SlackThread = { channel: click.channel, threadTs: click.threadTs };
  if (!options.allowList.allows(click.user)) {
    await options.replies.tell(thread, `🚫 ${options.allowList.refusal(click.user)}`);
    return;
  }
  let session: Session;
  try {
    session = options.sessions.get(click.sessionId);
  } catch {
    return;
  }
  // Only a session this channel started: the button's value is an id, and ids are not secrets.
  if (session.origin.kind !== 'slack' || session.origin.channel !== click.channel || isFinal(session.status)) return;
  options.logger.info({ session: session.id, user: click.user }, 'Slack Stop button');
  await options.sessions.stop(session.id).catch((error: unknown) => options.logger.warn({ err: error, session: session.id }, 'could not stop a session'));
}
