import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TeleCoderError } from '../errors.js';
import { GitError, runGit } from '../git/run-git.js';
import type { RepoAccess } from '../gitprovider/provider.js';
import { isFinal, type Session } from '../model/session.js';

/** What `telecoder prune` may remove: TeleCoder's own branches, nothing else. */
const TELECODER_PREFIX = 'refs/heads/telecoder/';

export interface PruneBranchesOptions {
  /** Say what would be removed; remove nothing. */
  dryRun?: boolean;
  /**
   * Also remove branches whose session delivered (completed) but whose commits are not in the
   * default branch: work someone may still want, so only when asked.
   */
  includeDelivered?: boolean;
  signal?: AbortSignal;
}

export interface PruneBranchesDeps {
  /** The local repository as its provider gave it: a file:// URL and the branch HEAD names. */
  access: RepoAccess;
  /** The stored session that made this branch of this repository, if any. */
  sessionOf(branch: string): Session | undefined;
  /** Where the scratch repository for the ancestry checks is made; default the OS's temp dir. */
  scratchDir?: string;
  /** Per git command. */
  timeoutMs?: number;
}

export interface BranchVerdict {
  branch: string;
  commit: string;
  reason: string;
}

export interface BranchPruneResult {
  repo: string;
  defaultBranch: string;
  dryRun: boolean;
  /** Removed (or, in a dry run, to be removed). */
  removed: BranchVerdict[];
  /** Left alone on purpose. */
  kept: BranchVerdict[];
  /** Meant to be removed, but the repository refused (checked out in a worktree, moved meanwhile). */
  failed: BranchVerdict[];
}

/**
 * Removes a local repository's `telecoder/*` branches that are merged (the tip is an ancestor of
 * the default branch) or abandoned (their session ended in error or was stopped, or no session in
 * this server's store names the branch). Never one a session still runs on; never a delivered,
 * unmerged one unless `includeDelivered`.
 *
 * Like a session's clone and push, it talks to the repository only over file:// (upload-pack to
 * read, receive-pack to delete), never by running git inside it, and reads ancestry in a scratch
 * repository of its own. A deletion names the commit it expects, so a branch that moved since it
 * was looked at is left alone.
 */
export async function pruneBranches(deps: PruneBranchesDeps, options: PruneBranchesOptions = {}): Promise<BranchPruneResult> {
  const { access } = deps;
  const git = (args: string[], cwd?: string) =>
    runGit(args, { ...(cwd ? { cwd, env: { GIT_DIR: cwd } } : {}), timeoutMs: deps.timeoutMs, signal: options.signal });
  const defaultBranch = access.defaultBranch;
  if (!defaultBranch) {
    throw new TeleCoderError(`${access.repo} has no default branch (its HEAD names none); check out its main branch first`);
  }
  if (`refs/heads/${defaultBranch}`.startsWith(TELECODER_PREFIX)) {
    throw new TeleCoderError(
      `${access.repo} has ${defaultBranch} checked out (its HEAD): check out its main branch first, so there is a branch to compare with`,
    );
  }

  const tips = parseHeads((await git(['ls-remote', '--heads', '--', access.cloneUrl])).stdout);
  const result: BranchPruneResult = { repo: access.repo, defaultBranch, dryRun: options.dryRun ?? false, removed: [], kept: [], failed: [] };
  const branches = [...tips].filter(([ref]) => ref.startsWith(TELECODER_PREFIX));
  if (branches.length === 0) return result;

  const scratch = await mkdtemp(join(deps.scratchDir ?? tmpdir(), 'telecoder-prune-'));
  try {
    await git(['init', '--quiet', '--bare', scratch]);
    // The default branch's history and the branches' tips: what the ancestry checks need.
    await git(
      ['fetch', '--quiet', '--no-tags', '--no-write-fetch-head', '--', access.cloneUrl, `+refs/heads/${defaultBranch}:refs/base`, `+${TELECODER_PREFIX}*:refs/pruning/*`],
      scratch,
    );
    for (const [ref, commit] of branches) {
      const branch = ref.slice('refs/heads/'.length);
      const verdict = await judge({ branch, commit, session: deps.sessionOf(branch), defaultBranch, options, merged: () => isAncestor(commit, scratch) });
      if (verdict.remove) result.removed.push({ branch, commit, reason: verdict.reason });
      else result.kept.push({ branch, commit, reason: verdict.reason });
    }
    if (result.dryRun) return result;

    const removed: BranchVerdict[] = [];
    for (const entry of result.removed) {
      try {
        // The lease: deleted only if it still points where it did when it was judged.
        await git(['push', '--quiet', '--no-verify', `--force-with-lease=refs/heads/${entry.branch}:${entry.commit}`, '--', access.cloneUrl, `:refs/heads/${entry.branch}`], scratch);
        removed.push(entry);
      } catch (error) {
        const detail = error instanceof GitError ? refusal(error.stderr) : String(error);
        result.failed.push({ ...entry, reason: `${entry.reason}, but the repository refused to delete it (${detail})` });
      }
    }
    result.removed = removed;
    return result;
  } finally {
    await rm(scratch, { recursive: true, force: true, maxRetries: 3 });
  }

  async function isAncestor(commit: string, gitDir: string): Promise<boolean> {
    try {
      await git(['merge-base', '--is-ancestor', commit, 'refs/base'], gitDir);
      return true;
    } catch (error) {
      // Exit 1 is git's "no"; anything else is a real failure.
      if (error instanceof GitError && error.exitCode === 1) return false;
      throw error;
    }
  }
}

interface JudgeInput {
  branch: string;
  commit: string;
  session: Session | undefined;
  defaultBranch: string;
  options: PruneBranchesOptions;
  merged: () => Promise<boolean>;
}

/** The rules, in the order they protect work: running first, then merged, then how the session ended. */
async function judge(input: JudgeInput): Promise<{ remove: boolean; reason: string }> {
  const { session, defaultBranch, options } = input;
  if (session && !isFinal(session.status)) {
    return { remove: false, reason: `session ${session.id} is ${session.status} on it` };
  }
  if (await input.merged()) return { remove: true, reason: `merged into ${defaultBranch}` };
  if (!session) return { remove: true, reason: "abandoned: no session in this server's store names it" };
  if (session.status !== 'complete') return { remove: true, reason: `abandoned: session ${session.id} ended ${session.status}` };
  if (options.includeDelivered) return { remove: true, reason: `delivered by session ${session.id}, not merged (removed as asked)` };
  return {
    remove: false,
    reason: `delivered by session ${session.id} and not merged into ${defaultBranch}; merge it, or prune with --include-delivered to remove it`,
  };
}

/** `<sha>\trefs/heads/<name>` lines as a map from ref to commit. */
function parseHeads(listed: string): Map<string, string> {
  const heads = new Map<string, string>();
  for (const line of listed.split('\n')) {
    const match = /^([0-9a-f]{40,64})\t(refs\/heads\/\S+)$/.exec(line.trim());
    if (match) heads.set(match[2]!, match[1]!);
  }
  return heads;
}

/** The line of a failed push that says why (git ends with a generic "failed to push some refs"). */
function refusal(stderr: string): string {
  const lines = stderr.split('\n').map((line) => line.trim()).filter(Boolean);
  return lines.find((line) => /rejected|stale info|refusing/i.test(line)) ?? lines.at(-1) ?? 'no reason given';
}
