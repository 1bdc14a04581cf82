import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenOnLoopback } from './listen-on-loopback.js';

export const TELEGRAM_TEST_TOKEN = '123456:TEST-telegram-token';
const MAX_LENGTH = 4096;

/** A message the bot has in a chat: its text now and every text it had. */
export interface BotMessage {
  messageId: number;
  chatId: number;
  text: string;
  history: string[];
  /** When each text was written (ms since the epoch). */
  writtenAt: number[];
}

export interface FakeTelegramApi {
  /** The API root to give TeleCoder (TELEGRAM_API_ROOT). */
  url: string;
  /** Every call the bot made, in order. */
  calls: Array<{ method: string; payload: Record<string, unknown>; raw: string }>;
  /** The bot's messages, in the order they were posted. */
  messages: BotMessage[];
  /** Documents the bot sent: the raw multipart body of each sendDocument. */
  documents: string[];
  /** Answers every getUpdates with 409 Conflict while true (another poller). */
  conflict: boolean;
  /**
   * Ignores the offset while true, as if confirmations never reached Telegram (the bot crashed
   * before its next getUpdates): every update is delivered again.
   */
  forgetConfirmations: boolean;
  /** Called at each getUpdates with the offset it confirms, before the answer. */
  onPoll?: (offset: number) => void;
  /** A user writes `text` in a private chat; returns the update id. */
  userSays(options: { chatId?: number; userId: number; text: string; username?: string }): number;
  /** The texts of the bot's messages in a chat, as they are now. */
  textsIn(chatId: number): string[];
  /** Resolves once a bot message in the chat matches; fails with what the chat has after `timeoutMs`. */
  waitForMessage(chatId: number, match: RegExp, timeoutMs?: number): Promise<BotMessage>;
  close(): Promise<void>;
}

/**
 * The Telegram Bot API, as much of it as the door uses, on loopback: long-polled getUpdates with
 * offsets, messages the bot posts and edits, Telegram's 4096-character limit and its "message is
 * not modified" answer, and a 409 when told another poller is there.
 */
export async function startFakeTelegramApi(options: { token?: string } = {}): Promise<FakeTelegramApi> {
  const token = options.token ?? TELEGRAM_TEST_TOKEN;
  type Update = { update_id: number; message: Record<string, unknown> };
  const updates: Update[] = [];
  let confirmed = 0;
  let nextUpdateId = 1000;
  let nextMessageId = 1;
  const waiters = new Set<() => void>();
  const open = new Set<ServerResponse>();

  const api: FakeTelegramApi = {
    url: '',
    calls: [],
    messages: [],
    documents: [],
    conflict: false,
    forgetConfirmations: false,
    userSays({ chatId, userId, text, username }) {
      const updateId = nextUpdateId++;
      const command = /^\/\w+/.exec(text);
      updates.push({
        update_id: updateId,
        message: {
          message_id: nextMessageId++,
          date: Math.floor(Date.now() / 1000),
          chat: { id: chatId ?? userId, type: 'private' },
          from: { id: userId, is_bot: false, first_name: 'Tester', ...(username ? { username } : {}) },
          text,
          ...(command ? { entities: [{ type: 'bot_command', offset: 0, length: command[0].length }] } : {}),
        },
      });
      for (const wake of waiters) wake();
      return updateId;
    },
    textsIn: (chatId) => api.messages.filter((message) => message.chatId === chatId).map((message) => message.text),
    async waitForMessage(chatId, match, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = api.messages.find((message) => message.chatId === chatId && match.test(message.text));
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no message matching ${match} in chat ${chatId}; it has:\n${api.textsIn(chatId).join('\n---\n')}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    close: async () => {
      for (const response of open) response.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const answer = (response: ServerResponse, status: number, body: unknown) => {
    open.delete(response);
    if (response.destroyed) return;
    response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const fail = (response: ServerResponse, code: number, description: string, parameters?: unknown) =>
    answer(response, code, { ok: false, error_code: code, description, ...(parameters ? { parameters } : {}) });
  const ok = (response: ServerResponse, result: unknown) => answer(response, 200, { ok: true, result });

  function pending(offset: number): Update[] {
    if (!api.forgetConfirmations) confirmed = Math.max(confirmed, offset);
    const from = api.forgetConfirmations ? offset : Math.max(confirmed, offset);
    return updates.filter((update) => update.update_id >= from);
  }

  async function getUpdates(request: IncomingMessage, response: ServerResponse, payload: Record<string, unknown>) {
    if (api.conflict) return fail(response, 409, 'Conflict: terminated by other getUpdates request; make sure that only one bot instance is running');
    const offset = Number(payload.offset ?? 0);
    api.onPoll?.(offset);
    const limit = Number(payload.limit ?? 100);
    const deadline = Date.now() + Number(payload.timeout ?? 0) * 1000;
    for (;;) {
      const ready = pending(offset).slice(0, limit);
      if (ready.length > 0 || Date.now() >= deadline || request.destroyed) return ok(response, ready);
      await new Promise<void>((resolve) => {
        const wake = () => {
          waiters.delete(wake);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, Math.max(0, deadline - Date.now()));
        waiters.add(wake);
        request.once('close', wake);
      });
    }
  }

  function handle(method: string, payload: Record<string, unknown>, raw: string, request: IncomingMessage, response: ServerResponse) {
    switch (method) {
      case 'getMe':
        return ok(response, { id: 123456, is_bot: true, first_name: 'TeleCoder', username: 'telecoder_test_bot' });
      case 'deleteWebhook':
      case 'setMyCommands':
        return ok(response, true);
      case 'getUpdates':
        return void getUpdates(request, response, payload);
      case 'sendMessage': {
        const text = String(payload.text ?? '');
        if (text.length > MAX_LENGTH) return fail(response, 400, 'Bad Request: message is too long');
        if (text.trim() === '') return fail(response, 400, 'Bad Request: message text is empty');
        const message: BotMessage = { messageId: nextMessageId++, chatId: Number(payload.chat_id), text, history: [text], writtenAt: [Date.now()] };
        api.messages.push(message);
        return ok(response, { message_id: message.messageId, date: Math.floor(Date.now() / 1000), chat: { id: message.chatId, type: 'private' }, text });
      }
      case 'editMessageText': {
        const text = String(payload.text ?? '');
        const message = api.messages.find((m) => m.chatId === Number(payload.chat_id) && m.messageId === Number(payload.message_id));
        if (!message) return fail(response, 400, 'Bad Request: message to edit not found');
        if (text.length > MAX_LENGTH) return fail(response, 400, 'Bad Request: message is too long');
        // Telegram compares what it would show: surrounding whitespace is trimmed.
        if (text.trim() === message.text.trim()) {
          return fail(response, 400, 'Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message');
        }
        message.text = text;
        message.history.push(text);
        message.writtenAt.push(Date.now());
        return ok(response, { message_id: message.messageId, date: Math.floor(Date.now() / 1000), chat: { id: message.chatId, type: 'private' }, text });
      }
      case 'sendDocument': {
        api.documents.push(raw);
        const chatId = Number(/name="chat_id"\s*\r?\n\r?\n(-?\d+)/.exec(raw)?.[1]);
        return ok(response, { message_id: nextMessageId++, date: Math.floor(Date.now() / 1000), chat: { id: chatId, type: 'private' } });
      }
      default:
        return fail(response, 404, `Not Found: method ${method} is not in the stand-in`);
    }
  }

  const server = createServer((request, response) => {
    open.add(response);
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const match = /^\/bot([^/]+)\/(\w+)$/.exec(request.url ?? '');
      if (!match) return fail(response, 404, 'Not Found');
      if (match[1] !== token) return fail(response, 401, 'Unauthorized');
      const raw = Buffer.concat(chunks).toString('utf8');
      let payload: Record<string, unknown> = {};
      if ((request.headers['content-type'] ?? '').includes('application/json') && raw) payload = JSON.parse(raw) as Record<string, unknown>;
      api.calls.push({ method: match[2]!, payload, raw });
      handle(match[2]!, payload, raw, request, response);
    });
  });
  api.url = await listenOnLoopback(server);
  return api;
}
