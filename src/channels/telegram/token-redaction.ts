import { HttpError, type Transformer } from 'grammy';

/**
 * A grammY API transformer that keeps the bot token out of errors. The Bot API's URLs carry the
 * token (`/bot<token>/getMe`), and a failed request's error quotes its URL: logged as is, the log
 * would hand anyone who reads it the bot.
 */
export function withoutToken(token: string): Transformer {
  return async (prev, method, payload, signal) => {
    try {
      return await prev(method, payload, signal);
    } catch (error) {
      if (!(error instanceof HttpError)) throw error;
      const cause = error.error instanceof Error ? error.error.message : String(error.error);
      throw new HttpError(error.message, new Error(cause.replaceAll(token, '<TELEGRAM_BOT_TOKEN>')));
    }
  };
}
