import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenOnLoopback } from '../listen-on-loopback.js';
import { readBody, sendJson } from '../stand-in-http.js';

/** One Web API call as the stand-in received it. */
export interface SlackApiCall {
  method: string;
  /** The bearer token it carried. */
  token: string | undefined;
  args: Record<string, any>;
  at: number;
}

/** A message the bot posted, as it reads now (after its edits). */
export interface PostedMessage {
  channel: string;
  ts: string;
  threadTs: string | undefined;
  text: string;
  blocks: any[] | undefined;
  edits: number;
}

export interface FakeSlackWebApiOptions {
  botToken: string;
  appToken: string;
  team: string;
  botUserId: string;
  botId: string;
  /** The Socket Mode URL apps.connections.open hands out. */
  socketUrl(): string;
}

export interface FakeSlackWebApi {
  /** For SLACK_API_URL: http://127.0.0.1:PORT/api/ */
  url: string;
  readonly calls: SlackApiCall[];
  /** Methods no route knows. */
  readonly unknown: string[];
  readonly messages: PostedMessage[];
  /** While set, every call is answered with HTTP 503 (Slack unreachable, as far as a client can tell). */
  down: boolean;
  close(): Promise<void>;
}

/**
 * Slack's Web API on 127.0.0.1: the methods the door calls, checked the way Slack checks them
 * (the bot token for the Web API, the app-level token for apps.connections.open), with the
 * messages kept so a test can read the thread as a person in Slack would.
 */
export async function startFakeSlackWebApi(options: FakeSlackWebApiOptions): Promise<FakeSlackWebApi> {
  const calls: SlackApiCall[] = [];
  const unknown: string[] = [];
  const messages: PostedMessage[] = [];
  let nextTs = 1_700_000_000;
  const api: Omit<FakeSlackWebApi, 'url' | 'close'> = { calls, unknown, messages, down: false };

  const answer = (method: string, token: string | undefined, args: Record<string, any>): Record<string, unknown> => {
    const wants = method === 'apps.connections.open' ? options.appToken : options.botToken;
    if (token !== wants) return { ok: false, error: 'invalid_auth' };
    switch (method) {
      case 'auth.test':
        return { ok: true, url: 'https://acme.slack.com/', team: 'Acme', user: 'telecoder', team_id: options.team, user_id: options.botUserId, bot_id: options.botId };
      case 'apps.connections.open':
        return { ok: true, url: options.socketUrl() };
      case 'chat.postMessage': {
        if (!args.channel || !args.text) return { ok: false, error: 'no_text' };
        const ts = `${nextTs++}.000100`;
        messages.push({ channel: args.channel, ts, threadTs: args.thread_ts, text: args.text, blocks: args.blocks, edits: 0 });
        return { ok: true, channel: args.channel, ts, message: { text: args.text, ts } };
      }
      case 'chat.update': {
        const message = messages.find((m) => m.channel === args.channel && m.ts === args.ts);
        if (!message) return { ok: false, error: 'message_not_found' };
        message.text = args.text;
        message.blocks = args.blocks;
        message.edits += 1;
        return { ok: true, channel: args.channel, ts: args.ts, text: args.text };
      }
      case 'reactions.add':
        return args.channel && args.timestamp && args.name ? { ok: true } : { ok: false, error: 'invalid_arguments' };
      default:
        unknown.push(method);
        return { ok: false, error: 'unknown_method' };
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const method = /^\/api\/([\w.]+)$/.exec(new URL(req.url ?? '/', 'http://slack.invalid').pathname)?.[1];
    const body = await readBody(req);
    if (api.down) return sendJson(res, 503, { ok: false, error: 'service_unavailable' });
    if (!method) return sendJson(res, 404, { ok: false, error: 'unknown_method' });
    const args = parseArgs(body, req.headers['content-type']);
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? args.token;
    calls.push({ method, token, args, at: Date.now() });
    sendJson(res, 200, answer(method, token, args));
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => sendJson(res, 500, { ok: false, error: String(error) }));
  });
  const base = await listenOnLoopback(server);
  return Object.assign(api, {
    url: `${base}/api/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

/** The Web API client posts forms whose object-valued fields (blocks) are JSON text; or JSON. */
function parseArgs(body: string, contentType: string | undefined): Record<string, any> {
  if (!body) return {};
  if (contentType?.includes('application/json')) return JSON.parse(body);
  const args: Record<string, any> = {};
  for (const [key, value] of new URLSearchParams(body)) {
    args[key] = /^[[{]/.test(value) ? JSON.parse(value) : value;
  }
  return args;
}

