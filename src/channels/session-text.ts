import type { Session } from '../model/session.js';

/** Where a person can open the session, when the server has a public URL. */
export function sessionLink(session: Session, publicUrl: string | undefined): string | undefined {
  return publicUrl ? `${publicUrl.replace(/\/+$/, '')}/sessions/${session.id}` : undefined;
}

/** The status message while a session runs (`step`: the agent's latest tool call, described). */
export function progressText(session: Session, step?: string): string {
  const tag = `TeleCoder session ${session.id} on ${session.repo}`;
  switch (session.status) {
    case 'pending':
      return `⏳ Queued: ${tag} is waiting for a free worker.`;
    case 'running':
      return `⚙️ Working: ${tag}.${step ? `\nNow: ${step}` : ''}`;
    case 'idle':
      return `💬 ${tag} is waiting for your next message.`;
    case 'complete':
      return `✅ Done: ${tag}.`;
    case 'stopped':
      return `⏹️ Stopped: ${tag}.`;
    case 'error':
      return `❌ Failed: ${tag}.`;
  }
}

/** The final message: the pull request, the pushed branch, the answer, or why it failed. */
export function outcomeText(session: Session): string {
  const result = session.result;
  if (session.status === 'stopped') return `⏹️ Stopped session ${session.id} before it finished.`;
  const warning = result?.warning ? `\n⚠️ ${result.warning}` : '';
  if (session.status === 'error') {
    const delivered = result?.prUrl ? `\nWhat was done so far: ${result.prUrl}` : '';
    return `❌ Session ${session.id} failed: ${session.error ?? 'unknown error'}${delivered}`;
  }
  if (!result) return `✅ Session ${session.id} is done.`;
  // A revision adds commits to a pull request that was already announced: say that, not "ready" again.
  if (result.prUrl && session.options.revision) return `✅ Pushed to PR #${session.options.revision.prNumber}: ${result.prUrl}${warning}\n\n${result.content}`.trim();
  if (result.prUrl) return `✅ ${result.draft ? 'Draft PR' : 'PR'} ready: ${result.prUrl}${warning}\n\n${result.content}`.trim();
  if (result.type === 'branch') return `✅ Pushed to branch ${result.branch ?? session.branch} of ${session.repo}.${warning}\n\n${result.content}`.trim();
  return result.content.trim() || `✅ Session ${session.id} is done.`;
}
