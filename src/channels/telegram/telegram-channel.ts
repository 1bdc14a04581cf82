import { autoRetry } from '@grammyjs/auto-retry';
import { Bot } from 'grammy';
import type { TelegramConfig } from '../../config/config.js';
import { AllowList } from '../allow-list.js';
import type { Channel, ChannelFactory } from '../channel.js';
import { TELEGRAM_COMMANDS } from './telegram-commands.js';
import { TelegramDoor } from './telegram-door.js';
import { withoutToken } from './token-redaction.js';
import { grammySignal, UpdatePoller } from './update-poller.js';

export interface TelegramChannelOptions {
  config: TelegramConfig;
  /** Least time between two edits of a status message; Telegram's limits call for 2 s. */
  progressIntervalMs?: number;
  /** getUpdates' long-poll timeout in seconds. */
  pollTimeoutSeconds?: number;
  /** First wait after a failed connection or poll (doubling up to a minute). */
  backoffMs?: number;
}

/**
 * The Telegram door (grammY, long polling): on when TELEGRAM_BOT_TOKEN is set. A 429 is retried
 * after its retry_after (auto-retry); a failure to connect is logged and retried with backoff,
 * never failing the server.
 */
export function telegramChannel(options: TelegramChannelOptions): ChannelFactory {
  return (context): Channel => {
    const { config } = options;
    const logger = context.logger.child({ channel: 'telegram' });
    const bot = new Bot(config.botToken, { client: { apiRoot: config.apiRoot } });
    // Network errors are thrown, not retried here: the poller logs them and backs off; a message
    // that cannot be sent fails its command rather than hanging it.
    bot.api.config.use(autoRetry({ maxRetryAttempts: 3, maxDelaySeconds: 60, rethrowHttpErrors: true }));
    bot.api.config.use(withoutToken(config.botToken));
    const door = new TelegramDoor({
      ...context,
      logger,
      api: bot.api,
      allowList: new AllowList(config.allowedUsers, 'TELEGRAM_ALLOWED_USERS'),
      defaultRepo: config.defaultRepo,
      progressIntervalMs: options.progressIntervalMs ?? 2_000,
      botUsername: () => (bot.isInited() ? bot.botInfo.username : undefined),
    });
    bot.on('message:text', (ctx) => door.handle(ctx));
    const poller = new UpdatePoller({
      api: bot.api,
      apiRoot: config.apiRoot,
      logger,
      timeoutSeconds: options.pollTimeoutSeconds ?? 30,
      backoffMs: options.backoffMs ?? 1_000,
      async connect(signal) {
        // getMe directly rather than bot.init(), which retries network errors silently for ever.
        bot.botInfo = await bot.api.getMe(grammySignal(signal));
        // getUpdates answers 409 while a webhook is set; long polling is what this door does.
        await bot.api.deleteWebhook({}, grammySignal(signal));
        await bot.api.setMyCommands([...TELEGRAM_COMMANDS], {}, grammySignal(signal));
        logger.info({ bot: bot.botInfo.username }, `Telegram: polling as @${bot.botInfo.username}`);
      },
      handle: (update) => bot.handleUpdate(update),
    });
    return {
      name: 'telegram',
      async start() {
        // Sessions of this door the restart left queued get their progress and outcome here.
        door.resume();
        poller.start();
      },
      async stop() {
        await poller.stop();
      },
      async close(deadline) {
        await door.settle(deadline);
      },
    };
  };
}
