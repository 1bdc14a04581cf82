import { GrammyError, InputFile, type Api } from 'grammy';
import { fitMessage } from '../progress-message.js';

/** Telegram refuses a message (or an edit) longer than this many characters. */
export const TELEGRAM_MAX_LENGTH = 4096;

type MessageApi = Pick<Api, 'sendMessage' | 'editMessageText' | 'sendDocument'>;

/**
 * Telegram answers 400 "message is not modified" to an edit that changes nothing, which happens
 * when an earlier edit went through but its answer was lost, or when two texts differ only where
 * Telegram trims them. The message shows the text either way: that is success.
 */
export function isNotModified(error: unknown): boolean {
  return error instanceof GrammyError && error.error_code === 400 && /message is not modified/i.test(error.description);
}

/** Posts `text` to a chat, cut to Telegram's limit. */
export async function sendText(api: MessageApi, chatId: number, text: string): Promise<number> {
  const sent = await api.sendMessage(chatId, fitMessage(text, TELEGRAM_MAX_LENGTH));
  return sent.message_id;
}

/**
 * The `write` of a ProgressMessage in a Telegram chat: the first text is posted, every later one
 * replaces it (editMessageText), so a session has one status message however long it runs.
 */
export function progressWriter(api: MessageApi, chatId: number): (text: string) => Promise<void> {
  let messageId: number | undefined;
  return async (text) => {
    if (messageId === undefined) {
      messageId = await sendText(api, chatId, text);
      return;
    }
    try {
      await api.editMessageText(chatId, messageId, fitMessage(text, TELEGRAM_MAX_LENGTH));
    } catch (error) {
      if (!isNotModified(error)) throw error;
    }
  };
}

/**
 * Posts text that may be long (a diff): as a message when it fits, else as a file named
 * `fileName` with `caption` as its message, so nothing is cut.
 */
export async function sendTextOrFile(api: MessageApi, chatId: number, options: { caption: string; text: string; fileName: string }): Promise<void> {
  const message = `${options.caption}\n\n${options.text}`;
  if (message.length <= TELEGRAM_MAX_LENGTH) {
    await api.sendMessage(chatId, message);
    return;
  }
  await api.sendDocument(chatId, new InputFile(Buffer.from(options.text, 'utf8'), options.fileName), {
    caption: fitMessage(options.caption, 1024),
  });
}
