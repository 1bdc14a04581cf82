/** One message that reached the bot: a mention in a channel, or a message in a DM to it. */
export interface SlackMessage {
  /** The Events API's event_id: the same for every redelivery of the event. */
  eventId: string;
  /** retry_attempt of the Socket Mode envelope (0 or undefined: the first delivery). */
  retryNum?: number | undefined;
  team: string;
  channel: string;
  user: string;
  ts: string;
  /** The thread the message was posted in, if any. */
  threadTs?: string | undefined;
  /** The words, with the bot's mention taken out. */
  text: string;
  /** A direct message to the bot (a chat), rather than a mention in a channel (a task). */
  direct: boolean;
}

/** `<@U123>` or `<@U123|name>`: how Slack writes a mention of the bot into the text. */
export function withoutMention(text: string, botUserId: string): string {
  return text.replace(new RegExp(`<@${botUserId}(?:\\|[^>]*)?>`, 'g'), ' ').replace(/[ \t]+/g, ' ').trim();
}

/**
 * The conversation a message belongs to, kept with the session it drives: a DM is one chat; in a
 * channel it is the thread, named by its first message's ts.
 */
export function conversationKey(message: Pick<SlackMessage, 'team' | 'channel' | 'ts' | 'threadTs' | 'direct'>): string {
  if (message.direct) return `slack:${message.team}:${message.channel}`;
  return `slack:${message.team}:${message.channel}:${message.threadTs ?? message.ts}`;
}

/** `stop` (or `/stop`, `stop!`) alone: stop the session of this thread or DM. */
export function isStopCommand(text: string): boolean {
  return /^\/?stop[.!]?$/i.test(text.trim());
}

/** Slack's channel ids of direct messages start with D. */
export function isDirectChannel(channel: string): boolean {
  return channel.startsWith('D');
}
