import { TeleCoderError, errorMessage } from '../errors.js';
import type { GitWorkspace } from '../git/git-workspace.js';
import { holdBackChanges, type HeldBackFile } from '../git/hold-back-changes.js';
import { runGit } from '../git/run-git.js';
import { extractPatch } from '../git/sandbox-patch.js';
import type { GitProvider, PullRequestRef } from '../gitprovider/provider.js';
import type { Session, SessionEventType } from '../model/session.js';
import type { Sandbox } from '../sandbox/runtime.js';
import { heldBackEventText } from './held-back-text.js';

export interface DeliverChangeContext {
  session: Session;
  sandbox: Sandbox;
  workspace: GitWorkspace;
  provider: GitProvider;
  signal: AbortSignal;
  emit(type: SessionEventType, data: unknown): void;
  commitMessage: string;
  /**
   * Deliver changes under .github/workflows/ and .github/actions/. When false they are held back:
   * taken out of the commit, shown in an event, and returned for the pull request to show.
   */
  allowWorkflowChanges: boolean;
  /**
   * What an earlier delivery from this same clone got done (a chat's earlier `/pr`): the commit its
   * push put on the branch, and whether its pull request step finished. A retry then pushes a
   * commit that was made but never pushed, and opens a pull request that failed to open, instead
   * of finding "nothing to commit".
   */
  earlier?: { pushedSha: string | undefined; pullRequestDone: boolean };
  /** Told as soon as the branch holds `sha` on the remote, before the pull request is asked for. */
  onPushed?(sha: string): void;
  /** Given the readable diff of everything the branch holds since the base, once it is pushed. */
  recordDiff?(diff: string): void;
  /**
   * The pull request to open once pushed; null to open none (one is already open for the branch,
   * and the push alone updated it).
   */
  pullRequest(changedFiles: string[], heldBack: HeldBackFile[]): { title: string; body: string; draft?: boolean } | null;
}

/** The delivered diff kept for display is cut here; the branch itself holds the whole change. */
export const DELIVERED_DIFF_MAX_BYTES = 2 * 1024 * 1024;

/** `committed: false`: nothing new to deliver (no change, or nothing an earlier attempt left undone). */
export type DeliverChangeOutcome =
  | { committed: false; leftOut: string[]; heldBack: HeldBackFile[] }
  | { committed: true; changedFiles: string[]; heldBack: HeldBackFile[]; pr: PullRequestRef | null };

/**
 * Brings the sandbox's work back as data and publishes it: the patch since the clone is applied to
 * the server's own clone, committed, pushed (fast-forward only) with fresh credentials, and a pull
 * request is opened when asked for. `committed: false` when the work changes nothing that is not
 * already committed.
 */
export async function deliverChange(context: DeliverChangeContext): Promise<DeliverChangeOutcome> {
  const { session, workspace, signal, emit } = context;
  // A stream: the change limits are checked in the sandbox first, and again as the patch arrives.
  const patch = await extractPatch(context.sandbox, workspace.baseSha, { limits: workspace.changeLimits, signal });
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
  // CI workflows run with the repository's secrets when pushed: they stay out unless allowed.
  const heldBack = context.allowWorkflowChanges
    ? []
    : await holdBackChanges({ dir: workspace.dir, baseSha: workspace.baseSha, signal });
  if (heldBack.length > 0) emit('output', heldBackEventText(heldBack));
  const held = new Set(heldBack.map((file) => file.path));
  const delivered = changedFiles.filter((path) => !held.has(path));
  if (delivered.length === 0) return { committed: false, leftOut, heldBack };
  // Files are counted from the clone's base: for a chat's later pull request, the whole work so far.
  emit('output', `Committing ${delivered.length} changed file(s)`);
  const sha = await workspace.commit({ message: context.commitMessage });
  const head = sha ?? (await runGit(['rev-parse', 'HEAD'], { cwd: workspace.dir, signal })).stdout.trim();
  const { earlier } = context;
  const pushed = earlier?.pushedSha === head;
  if (sha === null) {
    // The index matches HEAD: nothing new. Only what an earlier attempt left undone is left to do.
    const unpushed = head !== workspace.baseSha && !pushed;
    const unopened = pushed && earlier?.pullRequestDone === false;
    if (!unpushed && !unopened) return { committed: false, leftOut, heldBack };
    emit('output', unpushed ? 'Pushing the commit an earlier attempt made but could not push' : 'Opening the pull request an earlier attempt could not open');
  }
  signal.throwIfAborted();

  if (!pushed) {
    // Fresh access: short-lived tokens may have expired while the agent worked.
    const pushAccess = await context.provider.access(session.repo, signal);
    await workspace.push({ access: pushAccess, branch: session.branch, signal });
    emit('output', `Pushed ${session.branch}`);
    context.onPushed?.(head);
  }
  if (context.recordDiff) {
    // For people to read later (/diff, the dashboard); failing to make it loses no work.
    await workspace.diffText({ maxBytes: DELIVERED_DIFF_MAX_BYTES }).then(context.recordDiff, (error: unknown) =>
      emit('output', `Could not keep the delivered diff for display: ${errorMessage(error)}`),
    );
  }

  const request = context.pullRequest(delivered, heldBack);
  if (!request) return { committed: true, changedFiles: delivered, heldBack, pr: null };
  let pr: PullRequestRef | null;
  try {
    pr = await context.provider.openPullRequest(
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
  } catch (error) {
    // The work is on the remote already: say so, so nobody takes the failure for lost work.
    if (signal.aborted || (error instanceof Error && error.name === 'AbortError')) throw error;
    throw new TeleCoderError(
      `the branch ${session.branch} was pushed, but its pull request could not be opened: ${errorMessage(error)}`,
      error instanceof TeleCoderError ? error.status : 502,
      { cause: error },
    );
  }
  return { committed: true, changedFiles: delivered, heldBack, pr };
}
