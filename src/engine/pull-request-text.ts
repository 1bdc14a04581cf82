import type { Session, TokenUsage } from '../model/session.js';

const TITLE_PROMPT_LENGTH = 72;

/** What the task is called: the door's title (an issue's) or the prompt. */
export function taskTitle(session: Pick<Session, 'prompt' | 'options'>): string {
  return session.options.title ?? session.prompt;
}

/** First line of the task's title, cut to 72 characters: the PR title and the commit subject. */
export function pullRequestTitle(session: Pick<Session, 'prompt' | 'options'>): string {
  const firstLine = taskTitle(session).trim().split('\n')[0]?.trim() ?? '';
  const cut = firstLine.length > TITLE_PROMPT_LENGTH ? `${firstLine.slice(0, TITLE_PROMPT_LENGTH - 1)}…` : firstLine;
  return `telecoder: ${cut}`;
}

export function commitMessage(session: Session): string {
  return `${pullRequestTitle(session)}\n\nTeleCoder session ${session.id}`;
}

export function formatUsage(usage: TokenUsage): string {
  const total = usage.inputTokens + usage.outputTokens;
  return `${total.toLocaleString('en-US')} tokens (${usage.inputTokens.toLocaleString('en-US')} in, ${usage.outputTokens.toLocaleString('en-US')} out) over ${usage.turns} agent turns`;
}

/** Quotes untrusted text so it renders as text and cannot close the quote or ping anyone. */
export function quote(text: string): string {
  return text
    .trim()
    .split('\n')
    .map((line) => `> ${line.replace(/@(?=[A-Za-z0-9])/g, '@\u200b')}`)
    .join('\n');
}

export function pullRequestBody(options: {
  session: Session;
  summary: string;
  changedFiles: string[];
  usage: TokenUsage;
}): string {
  const { session, summary, changedFiles, usage } = options;
  const files = changedFiles.slice(0, 50).map((file) => `- \`${file}\``);
  if (changedFiles.length > 50) files.push(`- … and ${changedFiles.length - 50} more`);
  const { issueNumber } = session.options;
  return [
    // GitHub closes the issue when this pull request merges.
    ...(issueNumber ? [`Fixes #${issueNumber}`, ''] : []),
    '## Task',
    quote(taskTitle(session)),
    '',
    '## Summary',
    summary.trim() || '_The agent gave no summary._',
    '',
    `## Files changed (${changedFiles.length})`,
    ...files,
    '',
    '---',
    `TeleCoder session \`${session.id}\` · model ${session.model ?? 'default'} · ${formatUsage(usage)}` +
      (session.origin.requestedBy ? ` · requested by ${session.origin.requestedBy}` : ''),
  ].join('\n');
}
