import type { GitWorkspace } from '../git/git-workspace.js';
import { runGit } from '../git/run-git.js';
import { extractPatch } from '../git/sandbox-patch.js';
import type { GitProvider, PullRequestRef } from '../gitprovider/provider.js';
import type { Session, SessionEventType } from '../model/session.js';
import type { Sandbox } from '../sandbox/runtime.js';

export interface DeliverChangeContext {
  session: Session;
  sandbox: Sandbox;
  workspace: GitWorkspace;
  provider: GitProvider;
  signal: AbortSignal;
  emit(type: SessionEventType, data: unknown): void;
  commitMessage: string;
  /**
   * The pull request to open once pushed; null to open none (one is already open for the branch,
   * and the push alone updated it).
   */
  pullRequest(changedFiles: string[]): { title: string; body: string; draft?: boolean } | null;
}

export type DeliverChangeOutcome =
  | { committed: false; leftOut: string[] }
  | { committed: true; changedFiles: string[]; pr: PullRequestRef | null };

/**
 * Brings the sandbox's work back as data and publishes it: the patch since the clone is applied to
 * the server's own clone, committed, pushed (fast-forward only) with fresh credentials, and a pull
 * request is opened when asked for. `committed: false` when the work changes nothing that is not
 * already committed.
 */
export async function deliverChange(context: DeliverChangeContext): Promise<DeliverChangeOutcome> {
  const { session, workspace, signal, emit } = context;
  const patch = await extractPatch(context.sandbox, workspace.baseSha, { signal });
  // The patch is everything since the clone. After an earlier delivery (a chat's second pull
  // request) HEAD is past the base, so the index goes back to the base first; the commit
  // then holds the whole work and stays a fast-forward of the earlier one.
  await runGit(['read-tree', '--reset', workspace.baseSha], { cwd: workspace.dir, signal });
  const { changedFiles, leftOut } = await workspace.applyPatch(patch, { signal });
  if (leftOut.length > 0) {
    const shown = leftOut.slice(0, 5).join(', ');
    emit(
      'output',
      `Left out of the change: ${leftOut.length} file(s) ignored by the repository's .gitignore or inside node_modules/ or .venv/ ` +
        `(${shown}${leftOut.length > 5 ? ', …' : ''})`,
    );
  }
  if (changedFiles.length === 0) return { committed: false, leftOut };
  // Files are counted from the clone's base: for a chat's later pull request, the whole work so far.
  emit('output', `Committing ${changedFiles.length} changed file(s)`);
  const sha = await workspace.commit({ message: context.commitMessage });
  if (sha === null) return { committed: false, leftOut };
  signal.throwIfAborted();

  // Fresh access: short-lived tokens may have expired while the agent worked.
  const pushAccess = await context.provider.access(session.repo, signal);
  await workspace.push({ access: pushAccess, branch: session.branch, signal });
  emit('output', `Pushed ${session.branch}`);

  const request = context.pullRequest(changedFiles);
  if (!request) return { committed: true, changedFiles, pr: null };
  const pr = await context.provider.openPullRequest(
    {
      repo: session.repo,
      head: session.branch,
      base: workspace.baseBranch,
      title: request.title,
      body: request.body,
      ...(request.draft ? { draft: true } : {}),
    },
    signal,
  );
  return { committed: true, changedFiles, pr };
}
