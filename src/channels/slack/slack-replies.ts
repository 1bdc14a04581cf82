import type { webApi } from '@slack/bolt';
import type { Logger } from '../../logger.js';
import type { ChannelPacer } from './channel-pacer.js';

/** Where a reply goes: a channel, and in it the thread of `threadTs` (none: the channel or DM itself). */
export interface SlackThread {
  channel: string;
  threadTs?: string | undefined;
}

/** The action id of the Stop button on a status message; its value is the session id. */
export const STOP_ACTION_ID = 'telecoder_stop';

/** Slack's limit on a section block's text (the status message). */
export const SECTION_TEXT_LIMIT = 3000;
/** Below Slack's 40,000-character limit on a message's text (the outcome). */
export const MESSAGE_TEXT_LIMIT = 39_000;

/**
 * What the door writes to Slack: posts, edits and reactions, each post or edit paced per channel.
 * Text is escaped for Slack's mrkdwn, where &, < and > are markup: a prompt or an answer holding
 * `<!channel>` must not ping everyone.
 */
export class SlackReplies {
  readonly #client: webApi.WebClient;
  readonly #pacer: ChannelPacer;
  readonly #logger: Logger;

  constructor(options: { client: webApi.WebClient; pacer: ChannelPacer; logger: Logger }) {
    this.#client = options.client;
    this.#pacer = options.pacer;
    this.#logger = options.logger;
  }

  /** Posts `text` in the thread; resolves with the new message's ts. */
  async post(thread: SlackThread, text: string, stopSessionId?: string): Promise<string> {
    const escaped = escapeMrkdwn(text);
    const answer = await this.#pacer.run(thread.channel, () =>
      this.#client.chat.postMessage({
        channel: thread.channel,
        text: escaped,
        ...(thread.threadTs ? { thread_ts: thread.threadTs } : {}),
        ...(stopSessionId ? { blocks: statusBlocks(escaped, stopSessionId) } : {}),
      }),
    );
    if (!answer.ts) throw new Error(`Slack answered chat.postMessage in ${thread.channel} without the message's ts`);
    return answer.ts;
  }

  /** Replaces the text of message `ts`; with `stopSessionId` it keeps a Stop button for that session. */
  async update(channel: string, ts: string, text: string, stopSessionId?: string): Promise<void> {
    const escaped = escapeMrkdwn(text);
    // Without blocks a former Stop button would stay: an empty list removes it.
    await this.#pacer.run(channel, () =>
      this.#client.chat.update({ channel, ts, text: escaped, blocks: stopSessionId ? statusBlocks(escaped, stopSessionId) : [] }),
    );
  }

  /** Adds a reaction (`eyes`: 👀); one that is already there is no failure. */
  async react(channel: string, ts: string, name: string): Promise<void> {
    try {
      await this.#client.reactions.add({ channel, timestamp: ts, name });
    } catch (error) {
      if ((error as { data?: { error?: string } }).data?.error === 'already_reacted') return;
      throw error;
    }
  }

  /** Posts without failing the caller: the failure is logged (a reply must never undo the work it reports). */
  async tell(thread: SlackThread, text: string): Promise<void> {
    await this.post(thread, text).catch((error: unknown) =>
      this.#logger.warn({ err: error, channel: thread.channel }, 'could not post a Slack reply'),
    );
  }
}

/** The status message: its text, and a Stop button while the session can be stopped. */
function statusBlocks(text: string, sessionId: string) {
  return [
    { type: 'section', text: { type: 'mrkdwn', text } },
    {
      type: 'actions',
      elements: [
        {
          type: 'button',
          action_id: STOP_ACTION_ID,
          style: 'danger',
          text: { type: 'plain_text', text: 'Stop' },
          value: sessionId,
        },
      ],
    },
  ];
}

/** Slack's mrkdwn treats &, < and > as markup (links, mentions); everything else is shown as is. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
