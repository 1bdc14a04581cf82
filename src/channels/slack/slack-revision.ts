import type { Session, TaskRequest } from '../../model/session.js';

/**
 * The pull request a thread's last session delivered, when a mention in that thread should
 * revise it: the session completed with a pull request (a revision delivers to its PR too).
 */
export function revisablePullRequest(session: Session): { prNumber: number; prUrl: string; headBranch: string } | undefined {
  const result = session.result;
  if (session.status !== 'complete' || result?.type !== 'pr' || !result.prUrl || !result.prNumber) return undefined;
  return { prNumber: result.prNumber, prUrl: result.prUrl, headBranch: session.options.revision?.headBranch ?? result.branch ?? session.branch };
}

/** A revision of the pull request `previous` delivered, asked for by `instruction` in its Slack thread. */
export function revisionRequest(previous: Session, instruction: string): Omit<TaskRequest, 'origin' | 'deliveryId'> {
  const pr = revisablePullRequest(previous)!;
  const earlier = (previous.options.title ?? previous.prompt).slice(0, 2000);
  const prompt = [
    `Revise pull request #${pr.prNumber} of ${previous.repo} (${pr.prUrl}), which TeleCoder opened earlier.`,
    `Its branch ${pr.headBranch} is checked out with the work done so far: change it as asked below and keep the rest.`,
    '',
    `The earlier task: ${earlier}`,
    '',
    'What to change (a message from the Slack thread of the pull request):',
    instruction,
  ].join('\n');
  return {
    repo: previous.repo,
    prompt,
    mode: 'task',
    // The commit is named after what was asked, not after the assembled prompt.
    options: { revision: pr, title: instruction.split('\n')[0]!.slice(0, 200) },
  };
}
