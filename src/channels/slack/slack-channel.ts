import { App, SocketModeReceiver, webApi } from '@slack/bolt';
import type { SlackConfig } from '../../config/config.js';
import type { Logger } from '../../logger.js';
import { isFinal } from '../../model/session.js';
import { AllowList } from '../allow-list.js';
import type { Channel, ChannelContext, ChannelFactory } from '../channel.js';
import { boltLogger } from './bolt-logger.js';
import { ChannelPacer } from './channel-pacer.js';
import { connectionProblem, SlackConnectionError } from './connection-problem.js';
import { handleSlackMessage, handleStopButton, type SlackMessageHandlerOptions } from './handle-slack-message.js';
import { Reconnecting } from './reconnecting.js';
import { reportSession, type SessionReport } from './report-session.js';
import { isDirectChannel, withoutMention, type SlackMessage } from './slack-message.js';
import { SlackReplies, STOP_ACTION_ID, type SlackThread } from './slack-replies.js';

/** How many of the newest sessions are looked through for ones to follow again after a restart. */
const RESUME_LOOKBACK = 1_000;

export interface SlackChannelOptions {
  config: SlackConfig;
  /** Least time between two writes to one Slack channel (Slack allows about one a second). */
  postIntervalMs?: number;
  /** Waits between connection attempts: the first, and the ceiling it doubles up to. */
  reconnect?: { firstDelayMs: number; maxDelayMs: number };
}

/** The Slack door as the builder takes it (see TeleCoderBuilder.withChannel). */
export function slackChannel(options: SlackChannelOptions): ChannelFactory {
  return (context) => new SlackChannel(options, context);
}

/**
 * The Slack door: Bolt over Socket Mode, so no public URL is needed. Mentions in channels start
 * tasks (or revise the pull request of their thread), DMs are chats; each session is reported in
 * its thread. Bolt acknowledges each event before any listener runs, well within Slack's 3 s.
 */
export class SlackChannel implements Channel {
  readonly name = 'slack';
  readonly #options: SlackChannelOptions;
  readonly #context: ChannelContext;
  readonly #logger: Logger;
  readonly #client: webApi.WebClient;
  readonly #replies: SlackReplies;
  readonly #handler: SlackMessageHandlerOptions;
  readonly #reports = new Set<SessionReport>();
  readonly #connection: Reconnecting;
  #app: App | undefined;
  #botUserId: string | undefined;

  constructor(options: SlackChannelOptions, context: ChannelContext) {
    this.#options = options;
    this.#context = context;
    this.#logger = context.logger.child({ channel: 'slack' });
    const { config } = options;
    this.#client = new webApi.WebClient(config.botToken, {
      slackApiUrl: config.apiUrl,
      logger: boltLogger(this.#logger),
      // A few retries (429s wait for Retry-After); not the default half hour, which would hold shutdown.
      retryConfig: { retries: 2, factor: 2, minTimeout: 500, maxTimeout: 5000 },
    });
    this.#replies = new SlackReplies({
      client: this.#client,
      pacer: new ChannelPacer({ intervalMs: options.postIntervalMs ?? 1000 }),
      logger: this.#logger,
    });
    this.#handler = {
      sessions: context.sessions,
      store: context.store,
      allowList: new AllowList(config.allowedUsers, 'SLACK_ALLOWED_USERS'),
      defaultRepo: config.defaultRepo,
      replies: this.#replies,
      follow: (sessionId, thread, follow) => this.#follow(sessionId, thread, follow.chat),
      logger: this.#logger,
    };
    this.#connection = new Reconnecting({
      connect: () => this.#connect(),
      describe: (error) => connectionProblem(error, config.apiUrl),
      logger: this.#logger,
      firstDelayMs: options.reconnect?.firstDelayMs ?? 2000,
      maxDelayMs: options.reconnect?.maxDelayMs ?? 5 * 60_000,
    });
  }

  /** True while the Socket Mode connection is up. */
  get connected(): boolean {
    return this.#connection.connected;
  }

  async start(): Promise<void> {
    // Sessions of this door the restart left queued get their status message and outcome again;
    // only the Web API is needed for that, not the socket.
    this.#resume();
    await this.#connection.start();
  }

  /** Follows this door's sessions that are not over (a chat waiting for its next message needs nothing). */
  #resume(): void {
    for (const session of this.#context.sessions.list({ limit: RESUME_LOOKBACK })) {
      const { origin } = session;
      if (origin.kind !== 'slack' || typeof origin.channel !== 'string') continue;
      if (isFinal(session.status) || session.status === 'idle') continue;
      const threadTs = typeof origin.threadTs === 'string' ? origin.threadTs : undefined;
      this.#follow(session.id, { channel: origin.channel, threadTs }, session.mode === 'chat');
    }
  }

  async stop(): Promise<void> {
    this.#connection.stop();
    // No more events; the Web API client stays, for the outcomes still owed.
    await this.#app?.stop().catch((error: unknown) => this.#logger.warn({ err: error }, 'could not close the Slack connection'));
  }

  async close(deadline: number): Promise<void> {
    const owed = Promise.all([...this.#reports].map((report) => report.done));
    const wait = Math.max(0, deadline - Date.now());
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([owed, new Promise((resolve) => (timer = setTimeout(resolve, wait)))]);
    clearTimeout(timer);
    for (const report of this.#reports) report.cancel();
    this.#reports.clear();
  }

  /** One attempt: learn who the bot is (once), then open the Socket Mode connection. */
  async #connect(): Promise<void> {
    if (!this.#app) {
      let identity: webApi.AuthTestResponse;
      try {
        identity = await this.#client.auth.test();
      } catch (error) {
        throw new SlackConnectionError('bot token', error);
      }
      this.#botUserId = identity.user_id;
      this.#app = this.#makeApp(identity);
      this.#logger.info({ team: identity.team, bot: identity.user }, 'Slack bot token accepted');
    }
    try {
      await this.#app.start();
    } catch (error) {
      throw new SlackConnectionError('socket', error);
    }
    this.#logger.info('Slack door connected (Socket Mode)');
  }

  #makeApp(identity: webApi.AuthTestResponse): App {
    const { config } = this.#options;
    const logger = boltLogger(this.#logger);
    const receiver = new SocketModeReceiver({
      appToken: config.appToken,
      logger,
      // The door reconnects itself (Reconnecting): it logs why, backs off, and a reconnection
      // that fails cannot end up as an unhandled rejection inside the Socket Mode client.
      autoReconnectEnabled: false,
      installerOptions: { clientOptions: { slackApiUrl: config.apiUrl, retryConfig: { retries: 0 } } },
    });
    receiver.client.on('disconnected', () => this.#connection.dropped());
    const app = new App({
      token: config.botToken,
      // Known already: Bolt need not ask auth.test again for each event.
      botId: identity.bot_id,
      botUserId: identity.user_id,
      receiver,
      logger,
      clientOptions: { slackApiUrl: config.apiUrl, retryConfig: { retries: 2, factor: 2, minTimeout: 500, maxTimeout: 5000 } },
    });
    app.event('app_mention', async ({ event, body, context }) => {
      // A mention in a DM also arrives as a message there, which is how DMs are handled.
      if (isDirectChannel(event.channel) || event.bot_id || !event.user) return;
      await this.#handle({
        eventId: body.event_id,
        retryNum: context.retryNum,
        team: body.team_id,
        channel: event.channel,
        user: event.user,
        ts: event.ts,
        threadTs: event.thread_ts,
        text: withoutMention(event.text, this.#botUserId!),
        direct: false,
      });
    });
    app.message(async ({ message, body, context }) => {
      // Edits, deletions, joins and bots' messages (TeleCoder's own included) start nothing.
      if (message.subtype !== undefined || message.channel_type !== 'im' || message.bot_id || !message.user) return;
      await this.#handle({
        eventId: body.event_id,
        retryNum: context.retryNum,
        team: body.team_id,
        channel: message.channel,
        user: message.user,
        ts: message.ts,
        threadTs: message.thread_ts,
        text: withoutMention(message.text ?? '', this.#botUserId!),
        direct: true,
      });
    });
    app.action({ action_id: STOP_ACTION_ID, type: 'block_actions' }, async ({ ack, body, action }) => {
      await ack();
      const button = action as { value?: string };
      const channel = body.channel?.id;
      if (!button.value || !channel) return;
      const message = (body as { message?: { ts?: string; thread_ts?: string } }).message;
      await handleStopButton(this.#handler, { user: body.user.id, channel, threadTs: message?.thread_ts ?? message?.ts, sessionId: button.value });
    });
    app.error(async (error) => {
      this.#logger.error({ err: error }, 'a Slack listener failed');
    });
    return app;
  }

  async #handle(message: SlackMessage): Promise<void> {
    await handleSlackMessage(this.#handler, message);
  }

  #follow(sessionId: string, thread: SlackThread, chat: boolean): void {
    const report = reportSession({
      sessions: this.#context.sessions,
      bus: this.#context.bus,
      replies: this.#replies,
      logger: this.#logger,
      sessionId,
      thread,
      chat,
      minIntervalMs: this.#options.postIntervalMs ?? 1000,
      publicUrl: this.#context.publicUrl,
    });
    this.#reports.add(report);
    void report.done.then(() => this.#reports.delete(report));
  }
}
