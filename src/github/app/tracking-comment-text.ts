import type { Session } from '../../model/session.js';

/** Untrusted text (an answer, an error) as a quote that cannot ping anyone or break out of it. */
function quoteText(text: string, maxLength = 6_000): string {
  const cut = text.length > maxLength ? `${text.slice(0, maxLength)}…` : text;
  return cut
    .trim()
    .split('\n')
    .map((line) => `> ${line.replace(/@(?=[A-Za-z0-9])/g, '@\u200b')}`)
    .join('\n');
}

/** A short code span that stays one line and cannot be closed early. */
function code(text: string, maxLength = 80): string {
  const flat = text.replace(/\s+/g, ' ').replace(/`/g, "'").trim();
  return `\`${flat.length > maxLength ? `${flat.slice(0, maxLength - 1)}…` : flat}\``;
}

/** What the agent is doing, from a `tool` event's data ({name, arguments}). */
export function describeToolCall(data: unknown): string | undefined {
  if (!data || typeof data !== 'object') return undefined;
  const { name, arguments: args } = data as { name?: unknown; arguments?: unknown };
  if (typeof name !== 'string') return undefined;
  const fields = args && typeof args === 'object' ? (args as Record<string, unknown>) : {};
  const text = (key: string) => (typeof fields[key] === 'string' ? (fields[key] as string) : undefined);
  switch (name) {
    case 'run_command':
      return text('command') ? `running ${code(text('command')!)}` : 'running a command';
    case 'write_file':
    case 'edit_file':
      return text('path') ? `editing ${code(text('path')!)}` : 'editing a file';
    case 'read_file':
      return text('path') ? `reading ${code(text('path')!)}` : 'reading a file';
    case 'list_files':
      return 'looking through the files';
    case 'search':
      return text('pattern') ? `searching for ${code(text('pattern')!)}` : 'searching the code';
    case 'finish':
      return 'wrapping up';
    default:
      return `using ${code(name, 40)}`;
  }
}

/** The tracking comment when handling failed before a session was stored. */
export function failedBeforeStartText(reason: string): string {
  return `❌ TeleCoder could not start a session:\n\n${quoteText(reason, 2_000)}`;
}

/**
 * The tracking comment for a session as it stands (`step`: the latest tool call, while working),
 * ending with `link` (the session's dashboard page) when the server has a public URL.
 */
export function renderTrackingComment(session: Session, step?: string, link?: string): string {
  const text = trackingCommentBody(session, step);
  return link ? `${text}\n\n[Open the session in TeleCoder](${link})` : text;
}

function trackingCommentBody(session: Session, step?: string): string {
  const tag = `TeleCoder session \`${session.id}\``;
  const revision = session.options.revision;
  switch (session.status) {
    case 'pending':
      return `⏳ Queued — ${tag} is waiting for a free worker.`;
    case 'running':
    case 'idle':
      return `⚙️ Working — ${tag}${revision ? ` on \`${session.branch}\`` : ''}.${step ? `\n\nNow: ${step}` : ''}`;
    case 'stopped':
      return `⏹️ Stopped — ${tag} was stopped before it finished.`;
    case 'error':
      return `❌ Failed — ${tag}:\n\n${quoteText(session.error ?? 'unknown error')}`;
    case 'complete':
      return completeText(session, tag);
  }
}

function completeText(session: Session, tag: string): string {
  const result = session.result;
  if (!result) return `✅ Done — ${tag}.`;
  const summary = result.content.trim() ? `\n\n${quoteText(result.content)}` : '';
  if (result.type === 'text') return `💬 ${tag} changed nothing and answered:${summary}`;
  return deliveredText(session, result, tag);
}

/** A delivered change; work with failing checks is said plainly, in our words, before the agent's summary. */
function deliveredText(session: Session, result: NonNullable<Session['result']>, tag: string): string {
  // The result's first paragraph repeats the warning for API readers; here it has its own line.
  const content = result.warning ? result.content.replace(/^[^\n]*\n*/, '') : result.content;
  const summary = content.trim() ? `\n\n${quoteText(content)}` : '';
  // Held-back workflow files are work a person still has to do, like a failing check.
  const flagged =
    result.failingChecks !== undefined || (result.draft === true && result.warning !== undefined) || (result.heldBack?.length ?? 0) > 0;
  const mark = flagged ? '⚠️' : '✅';
  const warning = result.warning ? `\n\n**${flagged ? 'Needs work' : 'Note'}:** ${result.warning}.` : '';
  if (result.type === 'branch') return `${mark} Pushed to \`${result.branch ?? session.branch}\` — ${tag}.${warning}${summary}`;
  if (session.options.revision) {
    return `${mark} Pushed changes to \`${session.branch}\` of this pull request — ${tag}.${warning}${summary}`;
  }
  const pr = result.prNumber ? `#${result.prNumber}` : 'the pull request';
  const link = result.prUrl ? ` (${result.prUrl})` : '';
  const fixes = session.options.issueNumber ? ` It says "Fixes #${session.options.issueNumber}", so merging it closes this issue.` : '';
  const opened = result.draft ? `Draft PR open: ${pr}${link}` : `PR ready: ${pr}${link}`;
  return `${mark} ${opened} — ${tag}, branch \`${session.branch}\`.${fixes}${warning}${summary}`;
}

/** The threaded reply to a line review comment once its revision ended. */
export function renderReviewReply(session: Session): string {
  const tag = `TeleCoder session \`${session.id}\``;
  if (session.status === 'complete') {
    return session.result?.type === 'text'
      ? `💬 Nothing changed (${tag}):\n\n${quoteText(session.result.content)}`
      : `✅ Addressed in \`${session.branch}\` (${tag}).`;
  }
  if (session.status === 'stopped') return `⏹️ ${tag} was stopped before it addressed this.`;
  return `❌ ${tag} failed:\n\n${quoteText(session.error ?? 'unknown error', 2_000)}`;
}
