import { GrammyError, HttpError, type Api } from 'grammy';
import type { Update } from 'grammy/types';
import type { Logger } from '../../logger.js';

export interface UpdatePollerOptions {
  api: Pick<Api, 'getUpdates'>;
  /** Connects (getMe, deleteWebhook, setMyCommands); retried with backoff until it succeeds. */
  connect(signal: AbortSignal): Promise<void>;
  /** Handles one update; resolves once what it starts is stored. Throwing is logged. */
  handle(update: Update): Promise<void>;
  logger: Logger;
  /** Where the Bot API is, for messages about not reaching it. */
  apiRoot: string;
  /** Long-poll timeout in seconds (Telegram holds getUpdates open this long). */
  timeoutSeconds?: number;
  /** First wait after a failure; it doubles per failure in a row up to `maxBackoffMs`. */
  backoffMs?: number;
  maxBackoffMs?: number;
}

/**
 * Long polling with exactly-once hand-off. grammY's own `bot.start()` moves its offset past an
 * update before the update's handler has finished when the bot is stopped, and gives up for good
 * on a 401 or 409; this loop confirms an update (the next getUpdates' offset) only after its
 * handler resolved, i.e. after the session it started is stored, leaves updates it did not reach
 * to the next start, and keeps retrying with backoff, saying why, whatever Telegram answers.
 */
export class UpdatePoller {
  readonly #options: UpdatePollerOptions;
  #offset = 0;
  #confirmed = 0;
  #abort = new AbortController();
  #loop: Promise<void> | undefined;
  #stopping = false;

  constructor(options: UpdatePollerOptions) {
    this.#options = options;
  }

  /** Starts polling in the background; never throws. */
  start(): void {
    this.#loop ??= this.#run();
  }

  /**
   * Stops polling: the getUpdates in flight is cancelled, the update being handled finishes, and
   * what was handled is confirmed to Telegram so that the next start does not get it again.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#abort.abort();
    await this.#loop;
    if (this.#offset > this.#confirmed) {
      try {
        // limit 1, timeout 0: only the offset matters; an update in the answer is not confirmed by it.
        await this.#options.api.getUpdates({ offset: this.#offset, limit: 1, timeout: 0 });
        this.#confirmed = this.#offset;
      } catch (error) {
        this.#options.logger.warn({ err: error }, 'Telegram: could not confirm the last handled updates; the next start skips them by their delivery ids');
      }
    }
  }

  async #run(): Promise<void> {
    const { logger } = this.#options;
    let connected = false;
    let failures = 0;
    while (!this.#stopping) {
      try {
        if (!connected) {
          await this.#options.connect(this.#abort.signal);
          connected = true;
        }
        const updates = await this.#options.api.getUpdates(
          { offset: this.#offset, timeout: this.#options.timeoutSeconds ?? 30, allowed_updates: ['message'] },
          grammySignal(this.#abort.signal),
        );
        this.#confirmed = this.#offset;
        if (failures > 0) logger.info('Telegram: polling again');
        failures = 0;
        for (const update of updates) {
          // Not reached: left unconfirmed, the next start gets it.
          if (this.#stopping) break;
          try {
            await this.#options.handle(update);
          } catch (error) {
            logger.error({ err: error, updateId: update.update_id }, 'Telegram: could not handle an update');
          }
          this.#offset = update.update_id + 1;
        }
      } catch (error) {
        if (this.#stopping) break;
        failures += 1;
        const waitMs = Math.min(this.#options.maxBackoffMs ?? 60_000, (this.#options.backoffMs ?? 1_000) * 2 ** (failures - 1));
        logger.error({ err: error, retryInMs: waitMs }, `Telegram: ${this.#explain(error)} Retrying in ${Math.round(waitMs / 100) / 10} s.`);
        await sleep(waitMs, this.#abort.signal);
      }
    }
  }

  /** What went wrong and what to do about it, for the log. */
  #explain(error: unknown): string {
    if (error instanceof GrammyError) {
      if (error.error_code === 409) {
        return (
          `another process is receiving this bot's updates (409 ${error.description}). Telegram gives updates to one poller per token: ` +
          'stop the other TeleCoder or bot that uses TELEGRAM_BOT_TOKEN, or give this server a bot of its own from @BotFather.'
        );
      }
      if (error.error_code === 401 || error.error_code === 404) {
        return `the Bot API refused TELEGRAM_BOT_TOKEN (${error.error_code} ${error.description}): copy the token again from @BotFather (/mybots → API Token).`;
      }
      return `the Bot API answered ${error.method} with ${error.error_code} ${error.description}.`;
    }
    if (error instanceof HttpError) {
      return `cannot reach the Telegram Bot API at ${this.#options.apiRoot} (${error.message}): check this server's network, or TELEGRAM_API_ROOT.`;
    }
    return `polling failed (${error instanceof Error ? error.message : String(error)}).`;
  }
}

/** grammY's Node build types its signals with the abort-controller package; Node's own is the same at run time. */
export function grammySignal(signal: AbortSignal): Parameters<Api['getMe']>[0] {
  return signal as unknown as Parameters<Api['getMe']>[0];
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
