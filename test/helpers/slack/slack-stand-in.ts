import { randomUUID } from 'node:crypto';
import { startFakeSlackWebApi, type FakeSlackWebApi, type PostedMessage } from './fake-slack-web-api.js';
import { startFakeSocketMode, type Ack, type FakeSocketMode } from './fake-socket-mode.js';

export const TEAM = 'T0ACME';
export const BOT_USER = 'U0TELECODER';
export const BOT_TOKEN = 'xoxb-test-bot-token';
export const APP_TOKEN = 'xapp-test-app-token';

export interface SlackStandIn {
  api: FakeSlackWebApi;
  socket: FakeSocketMode;
  /** Environment that points TeleCoder's Slack door at the stand-ins. */
  env: { SLACK_API_URL: string; SLACK_BOT_TOKEN: string; SLACK_APP_TOKEN: string };
  /** Sends an Events API envelope; resolves with its ack. `eventId` and `retryAttempt` make a redelivery. */
  event(event: Record<string, unknown>, options?: { eventId?: string; retryAttempt?: number }): Promise<Ack & { eventId: string }>;
  /** `@TeleCoder <text>` in a channel (in `threadTs`'s thread when given). */
  mention(options: { user: string; channel: string; text: string; threadTs?: string; eventId?: string; retryAttempt?: number }): Promise<Ack & { eventId: string; ts: string }>;
  /** A direct message to the bot. */
  dm(options: { user: string; channel: string; text: string }): Promise<Ack & { eventId: string; ts: string }>;
  /** Clicks a button of a message the bot posted. */
  click(options: { user: string; message: PostedMessage; actionId: string }): Promise<Ack>;
  /** Messages the bot posted in `channel` (in one thread, when given), oldest first. */
  posted(channel: string, threadTs?: string): PostedMessage[];
  /** Waits until the bot posted a message matching `test`. */
  waitForPost(test: (message: PostedMessage) => boolean, timeoutMs?: number): Promise<PostedMessage>;
  close(): Promise<void>;
}

let clock = 1_800_000_000;
/** A fresh message ts, after every ts the stand-in hands out. */
const nextTs = () => `${clock++}.000200`;

/** Slack as the door sees it: the Web API and Socket Mode, both on 127.0.0.1. */
export async function startSlackStandIn(): Promise<SlackStandIn> {
  const socket = await startFakeSocketMode();
  const api = await startFakeSlackWebApi({ botToken: BOT_TOKEN, appToken: APP_TOKEN, team: TEAM, botUserId: BOT_USER, botId: 'B0TELECODER', socketUrl: socket.url });
  const event: SlackStandIn['event'] = async (body, options = {}) => {
    const eventId = options.eventId ?? `Ev${randomUUID().replace(/-/g, '').slice(0, 12).toUpperCase()}`;
    const ack = await socket.send({
      type: 'events_api',
      payload: {
        token: 'verification-token',
        team_id: TEAM,
        api_app_id: 'A0TELECODER',
        event: body,
        type: 'event_callback',
        event_id: eventId,
        event_time: Math.floor(Date.now() / 1000),
        authorizations: [{ team_id: TEAM, user_id: BOT_USER, is_bot: true, is_enterprise_install: false }],
        is_ext_shared_channel: false,
      },
      ...(options.retryAttempt ? { retry_attempt: options.retryAttempt, retry_reason: 'timeout' } : {}),
    });
    return { ...ack, eventId };
  };
  const stand: SlackStandIn = {
    api,
    socket,
    env: { SLACK_API_URL: api.url, SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_APP_TOKEN: APP_TOKEN },
    event,
    async mention(options) {
      const ts = nextTs();
      const body = {
        type: 'app_mention',
        user: options.user,
        text: `<@${BOT_USER}> ${options.text}`,
        ts,
        channel: options.channel,
        event_ts: ts,
        ...(options.threadTs ? { thread_ts: options.threadTs } : {}),
      };
      return { ...(await event(body, options)), ts };
    },
    async dm(options) {
      const ts = nextTs();
      const body = { type: 'message', channel_type: 'im', user: options.user, text: options.text, ts, channel: options.channel, event_ts: ts };
      return { ...(await event(body)), ts };
    },
    click({ user, message, actionId }) {
      const button = message.blocks?.flatMap((block: any) => block.elements ?? []).find((element: any) => element.action_id === actionId);
      if (!button) throw new Error(`message ${message.ts} has no button ${actionId}: ${JSON.stringify(message.blocks)}`);
      return socket.send({
        type: 'interactive',
        payload: {
          type: 'block_actions',
          team: { id: TEAM, domain: 'acme' },
          user: { id: user, username: user, team_id: TEAM },
          api_app_id: 'A0TELECODER',
          token: 'verification-token',
          container: { type: 'message', message_ts: message.ts, channel_id: message.channel, is_ephemeral: false },
          trigger_id: `${Date.now()}.trigger`,
          channel: { id: message.channel, name: 'general' },
          message: { type: 'message', ts: message.ts, text: message.text, ...(message.threadTs ? { thread_ts: message.threadTs } : {}) },
          response_url: 'https://hooks.slack.invalid/actions/1',
          actions: [{ action_id: actionId, block_id: 'status', type: 'button', value: button.value, action_ts: `${Date.now() / 1000}` }],
        },
      });
    },
    posted(channel, threadTs) {
      return api.messages.filter((m) => m.channel === channel && (threadTs === undefined || m.threadTs === threadTs));
    },
    async waitForPost(test, timeoutMs = 90_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = api.messages.find(test);
        if (found) return found;
        if (Date.now() > deadline) {
          throw new Error(`no such Slack message within ${timeoutMs} ms; posted: ${JSON.stringify(api.messages.map((m) => m.text), null, 1)}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    async close() {
      await socket.close();
      await api.close();
    },
  };
  return stand;
}
