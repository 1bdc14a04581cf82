import type { Context } from 'grammy';
import { DuplicateDeliveryError, errorMessage, TeleCoderError } from '../../errors.js';
import { isFinal, type Session, type SessionMode, type TaskOrigin, type TaskRequest } from '../../model/session.js';
import type { AllowList } from '../allow-list.js';
import type { ChannelContext } from '../channel.js';
import { ProgressMessage } from '../progress-message.js';
import { followSession } from '../session-progress.js';
import { outcomeText, progressText, sessionLink } from '../session-text.js';
import { chooseRepo, parseTaskText } from '../task-text.js';
import { helpText } from './telegram-commands.js';
import { progressWriter, sendText, sendTextOrFile, TELEGRAM_MAX_LENGTH } from './telegram-messages.js';
import type { Api } from 'grammy';

/** What a session started from Telegram records as its origin. */
/** How many of the newest sessions `resume` looks through. */
const RESUME_LOOKBACK = 1_000;

export interface TelegramOrigin extends TaskOrigin {
  kind: 'telegram';
  chatId: number;
  userId: number;
  /** The update that started it. */
  updateId: number;
}

export interface TelegramDoorOptions extends ChannelContext {
  api: Pick<Api, 'sendMessage' | 'editMessageText' | 'sendDocument'>;
  allowList: AllowList;
  defaultRepo: string | undefined;
  /** Least time between two edits of a progress message (Telegram: batch every 2 s). */
  progressIntervalMs: number;
  /** The bot's @username, so that `/cmd@OtherBot` in a group is left to the other bot. */
  botUsername(): string | undefined;
}

const COMMAND = /^\/([A-Za-z0-9_]+)(?:@([A-Za-z0-9_]+))?(?:\s+([\s\S]*))?$/;

/**
 * The Telegram door: turns a chat's messages and commands into session requests and stops, and
 * a session's events into one status message and a final answer. Each Telegram chat is one
 * conversation (`telegram:<chat id>`) pointing at its current session.
 */
export class TelegramDoor {
  readonly #options: TelegramDoorOptions;
  /** Chats that asked for /new without a first message: the repository their next chat uses. */
  readonly #freshChat = new Map<number, string | undefined>();
  /** Sessions stopped with /stop: the /stop reply is their outcome, not posted twice. */
  readonly #stoppedHere = new Set<string>();
  /** Sessions followed now, and the promise of their outcome being posted. */
  readonly #following = new Map<string, { cancel: () => void; posted: Promise<void> }>();

  constructor(options: TelegramDoorOptions) {
    this.#options = options;
  }

  /** Handles one text message; resolves once any session it starts is stored. */
  async handle(ctx: Context): Promise<void> {
    const { store, logger, allowList } = this.#options;
    const message = ctx.message;
    const from = ctx.from;
    if (!message?.text || !from || from.is_bot || !ctx.chat) return;
    const updateId = ctx.update.update_id;
    const deliveryId = `telegram:${updateId}`;
    // Telegram redelivers what was not confirmed before a crash; what was handled is not handled again.
    if (!store.claimDelivery(deliveryId, 'telegram')) return logger.debug({ updateId }, 'Telegram: update already handled');
    const chatId = ctx.chat.id;
    const command = COMMAND.exec(message.text.trim());
    if (command?.[2] && command[2].toLowerCase() !== this.#options.botUsername()?.toLowerCase()) return;
    const name = command?.[1]!.toLowerCase();
    const args = command ? (command[3] ?? '').trim() : message.text;
    const say = (text: string) => sendText(this.#options.api, chatId, text);

    if (name === 'start' || name === 'help') {
      const refusal = allowList.allows(from.id) ? `\n\nYour user id is ${from.id}.` : `\n\n${allowList.refusal(from.id)}`;
      await say(`${helpText(this.#options.defaultRepo)}${refusal}`);
      return;
    }
    if (!allowList.allows(from.id)) {
      logger.info({ userId: from.id, chatId }, 'Telegram: refused a user not in TELEGRAM_ALLOWED_USERS');
      await say(allowList.refusal(from.id));
      return;
    }
    const origin: TelegramOrigin = {
      kind: 'telegram',
      chatId,
      userId: from.id,
      updateId,
      requestedBy: from.username ? `@${from.username}` : `Telegram user ${from.id}`,
    };
    try {
      switch (name) {
        case undefined:
          return await this.#chat(chatId, args, origin, deliveryId);
        case 'run':
          return await this.#start(chatId, 'task', args, origin, deliveryId);
        case 'new':
          return await this.#new(chatId, args, origin, deliveryId);
        case 'status':
          return void (await say(this.#status(chatId)));
        case 'stop':
          return void (await say(await this.#stop(chatId)));
        case 'pr':
          return void (await say(await this.#pullRequest(chatId)));
        case 'diff':
          return await this.#diff(chatId);
        default:
          await say(`Unknown command /${name}. /help lists the commands.`);
      }
    } catch (error) {
      if (error instanceof DuplicateDeliveryError) return;
      if (!(error instanceof TeleCoderError)) logger.error({ err: error, updateId }, 'Telegram: a command failed');
      await say(`⚠️ ${errorMessage(error)}`);
    }
  }

  /** Resolves once the outcomes owed for followed sessions are posted, or at `deadline`. */
  async settle(deadline: number): Promise<void> {
    const posted = Promise.all([...this.#following.values()].map((entry) => entry.posted));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now()))));
    await Promise.race([posted, late]);
    clearTimeout(timer);
    for (const entry of this.#following.values()) entry.cancel();
  }

  /** The session a chat points at, if it still exists. */
  #current(chatId: number): Session | undefined {
    const id = this.#options.store.conversationSession(conversationKey(chatId));
    if (!id) return undefined;
    try {
      return this.#options.sessions.get(id);
    } catch {
      return undefined;
    }
  }

  async #chat(chatId: number, text: string, origin: TelegramOrigin, deliveryId: string): Promise<void> {
    const current = this.#current(chatId);
    if (!this.#freshChat.has(chatId) && current?.mode === 'chat' && !isFinal(current.status)) {
      const { store } = this.#options;
      // As for a new session: the claim is given back and taken again by the message, in the
      // transaction that stores it, so a crash in between leaves the update for the next start.
      store.releaseDelivery(deliveryId);
      try {
        this.#options.sessions.sendMessage(current.id, text, { deliveryId, deliveryKind: 'telegram' });
      } catch (error) {
        if (!(error instanceof DuplicateDeliveryError)) store.claimDelivery(deliveryId, 'telegram');
        throw error;
      }
      this.#follow(chatId, current.id);
      return;
    }
    const repo = this.#freshChat.get(chatId);
    await this.#start(chatId, 'chat', repo && !/--repo\b/.test(text) ? `${text} --repo ${repo}` : text, origin, deliveryId);
  }

  async #new(chatId: number, args: string, origin: TelegramOrigin, deliveryId: string): Promise<void> {
    const task = parseTaskText(args);
    const repo = chooseRepo(task, { defaultRepo: this.#options.defaultRepo, defaultVariable: 'TELEGRAM_DEFAULT_REPO' });
    const previous = this.#current(chatId);
    // The old chat's sandbox is not needed any more; a chat busy with a message is left to finish.
    if (previous?.mode === 'chat' && previous.status === 'idle') {
      this.#stoppedHere.add(previous.id);
      await this.#options.sessions.stop(previous.id);
    }
    if (task.prompt) {
      this.#freshChat.delete(chatId);
      await this.#start(chatId, 'chat', args, origin, deliveryId);
      return;
    }
    this.#freshChat.set(chatId, task.repo);
    await sendText(this.#options.api, chatId, `🆕 Your next message starts a new chat on ${repo}.`);
  }

  async #start(chatId: number, mode: SessionMode, text: string, origin: TelegramOrigin, deliveryId: string): Promise<void> {
    const { sessions, store } = this.#options;
    const task = parseTaskText(text);
    const repo = chooseRepo(task, { defaultRepo: this.#options.defaultRepo, defaultVariable: 'TELEGRAM_DEFAULT_REPO' });
    if (!task.prompt) throw new TeleCoderError(mode === 'task' ? 'What should I do? Write /run <task> [--repo owner/name].' : 'Write what you want done.');
    const request: TaskRequest = { repo, prompt: task.prompt, mode, origin, deliveryId };
    // The claim is given back while the request is checked and taken again by the session, in
    // the transaction that stores it: a crash in between leaves the update to be handled at the
    // next start instead of lost.
    store.releaseDelivery(deliveryId);
    try {
      await sessions.preflight(request);
    } catch (error) {
      store.claimDelivery(deliveryId, 'telegram');
      throw error;
    }
    const session = sessions.submit(request);
    store.bindConversation(conversationKey(chatId), session.id);
    this.#freshChat.delete(chatId);
    this.#options.logger.info({ session: session.id, chatId, mode }, 'Telegram: session started');
    this.#follow(chatId, session.id);
  }

  /**
   * After a restart: sessions this door started that are not over (queued ones start again) get a
   * status message and their outcome, as if they had just been asked for. A chat waiting for its
   * next message needs nothing.
   */
  resume(): void {
    for (const session of this.#options.sessions.list({ limit: RESUME_LOOKBACK })) {
      const { origin } = session;
      if (origin.kind !== 'telegram' || typeof origin.chatId !== 'number') continue;
      if (isFinal(session.status) || session.status === 'idle' || this.#following.has(session.id)) continue;
      this.#follow(origin.chatId, session.id);
    }
  }

  /** One status message for the session's run (a chat: for this message), then its outcome. */
  #follow(chatId: number, sessionId: string): void {
    const { sessions, bus, logger } = this.#options;
    this.#following.get(sessionId)?.cancel();
    const message = new ProgressMessage({
      write: progressWriter(this.#options.api, chatId),
      minIntervalMs: this.#options.progressIntervalMs,
      maxLength: TELEGRAM_MAX_LENGTH,
      logger,
    });
    let posted!: () => void;
    const entry = { cancel: () => undefined as void, posted: new Promise<void>((resolve) => (posted = resolve)) };
    this.#following.set(sessionId, entry);
    const cancel = followSession({
      sessions,
      logger,
      bus,
      sessionId,
      message,
      untilIdle: sessions.get(sessionId).mode === 'chat',
      onEnd: async (session) => {
        try {
          await this.#postOutcome(chatId, session);
        } catch (error) {
          logger.warn({ err: error, session: session.id }, 'Telegram: could not post the outcome');
        } finally {
          if (this.#following.get(sessionId) === entry) this.#following.delete(sessionId);
          posted();
        }
      },
    });
    entry.cancel = () => {
      cancel();
      posted();
    };
  }

  async #postOutcome(chatId: number, session: Session): Promise<void> {
    if (session.status === 'stopped' && this.#stoppedHere.delete(session.id)) return;
    let text = outcomeText(session);
    if (session.mode === 'chat' && session.status === 'idle') {
      const answer = this.#options.sessions.messages(session.id).filter((message) => message.role === 'assistant').at(-1);
      text = answer?.content.trim() || '(no answer)';
    }
    const link = sessionLink(session, this.#options.publicUrl);
    await sendText(this.#options.api, chatId, link ? `${text}\n\n${link}` : text);
  }

  #status(chatId: number): string {
    const session = this.#current(chatId);
    if (!session) return 'No session in this chat yet: send a message to start a chat, or /run <task>.';
    const link = sessionLink(session, this.#options.publicUrl);
    const result = session.prUrl ? `\nPull request: ${session.prUrl}` : '';
    return `${progressText(session)}\nMode: ${session.mode}. Asked: ${session.prompt}${result}${link ? `\n${link}` : ''}`;
  }

  async #stop(chatId: number): Promise<string> {
    const session = this.#current(chatId);
    if (!session) return 'No session in this chat to stop.';
    if (isFinal(session.status)) return `Session ${session.id} already ended (${session.status}).`;
    this.#stoppedHere.add(session.id);
    const stopped = await this.#options.sessions.stop(session.id);
    return `⏹️ Stopped session ${stopped.id}: the agent is stopped and its sandbox removed.`;
  }

  async #pullRequest(chatId: number): Promise<string> {
    const session = this.#current(chatId);
    if (!session) return 'No chat here yet: send a message to start one, then /pr opens a pull request with its changes.';
    if (session.mode !== 'chat') {
      return session.prUrl ? `Session ${session.id} opened ${session.prUrl}.` : `Session ${session.id} is a task: it opens its pull request itself when it completes.`;
    }
    const pr = await this.#options.sessions.createPullRequest(session.id);
    const where = pr.url ? `✅ ${pr.draft ? 'Draft PR' : 'PR'} ready: ${pr.url}` : `✅ Pushed to branch ${pr.branch} of ${session.repo}.`;
    return pr.warning ? `${where}\n⚠️ ${pr.warning}` : where;
  }

  async #diff(chatId: number): Promise<void> {
    const session = this.#current(chatId);
    if (!session) {
      await sendText(this.#options.api, chatId, 'No session in this chat yet.');
      return;
    }
    // The real change (the original showed the agent's last output): a live chat's from its sandbox.
    const diff = await this.#options.sessions.diff(session.id);
    await sendTextOrFile(this.#options.api, chatId, {
      caption: `Diff of session ${session.id} on ${session.repo}:`,
      text: diff.trim() || '(no changes)',
      fileName: `telecoder-${session.id}.diff`,
    });
  }
}

/** The conversation a Telegram chat is: one current session per chat. */
export function conversationKey(chatId: number): string {
  return `telegram:${chatId}`;
}
