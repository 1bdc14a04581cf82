import type { HeldBackFile } from '../git/hold-back-changes.js';
import type { Message, Session, TokenUsage } from '../model/session.js';
import { heldBackSection } from './held-back-text.js';
import { formatUsage, quote } from './pull-request-text.js';

function label(message: Message): string {
  return message.role === 'user' ? 'User' : 'Assistant (you)';
}

/**
 * The agent's prompt for a chat message: the conversation so far, each message labelled with who
 * said it, then the new message. The agent keeps no memory between runs, so this is its memory;
 * the sandbox keeps the files.
 */
export function chatPrompt(messages: Message[]): string {
  const latest = messages.at(-1);
  if (!latest || latest.role !== 'user') throw new Error('a chat prompt needs the new user message last');
  const earlier = messages.slice(0, -1);
  if (earlier.length === 0) return latest.content;
  return [
    'You are in a chat with a user about the repository in your workspace. The workspace still holds',
    'everything done earlier in this chat. The conversation so far:',
    '',
    ...earlier.flatMap((message) => [`--- ${label(message)} ---`, message.content, '']),
    '--- New message from the user (answer this one) ---',
    latest.content,
  ].join('\n');
}

/** A chat's pull request: held-back workflow files, the conversation quoted as untrusted text, then the session. */
export function chatPullRequestBody(options: {
  session: Session;
  messages: Message[];
  usage: TokenUsage;
  heldBack?: readonly HeldBackFile[];
}): string {
  const { session, messages, usage } = options;
  return [
    ...heldBackSection(options.heldBack ?? []),
    '## Conversation',
    ...messages.flatMap((message) => ['', `**${message.role === 'user' ? 'User' : 'Assistant'}:**`, '', quote(message.content)]),
    '',
    '---',
    `TeleCoder chat session \`${session.id}\` · model ${session.model ?? 'default'} · ${formatUsage(usage)}` +
      (session.origin.requestedBy ? ` · requested by ${session.origin.requestedBy}` : ''),
  ].join('\n');
}
