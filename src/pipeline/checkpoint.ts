import { SANDBOX_GIT_ENV, sandboxGit } from '../git/git-walls.js';
import { WORKSPACE_ONLY_EXCLUDE_LINES, WORKSPACE_ONLY_PATHSPECS } from '../git/workspace-only-paths.js';
import type { Sandbox } from '../sandbox/runtime.js';

/** The git walls: the agent may have written .git/hooks or .git/config, and a checkpoint must never run its code. */
const GIT = sandboxGit();
const ENV = SANDBOX_GIT_ENV;
const TIMEOUT_MS = 120_000;

async function git(sandbox: Sandbox, args: string[], signal?: AbortSignal, maxOutputBytes = 64 * 1024) {
  const result = await sandbox.exec([...GIT, ...args], {
    cwd: sandbox.workspace,
    env: ENV,
    timeoutMs: TIMEOUT_MS,
    maxOutputBytes,
    ...(signal ? { signal } : {}),
  });
  if (result.timedOut || result.exitCode !== 0) {
    const detail = (result.stderr || result.stdout).trim().slice(0, 1000);
    throw new Error(
      `\`git ${args[0]}\` failed in the sandbox (${result.timedOut ? 'timed out' : `exit ${result.exitCode}`})` +
        `${detail ? `: ${detail}` : ''}; the workspace's git metadata may have been damaged by the agent`,
    );
  }
  return result.stdout;
}

/**
 * Commits everything in the sandbox as the end of a step and returns the new HEAD. With nothing to
 * commit, HEAD stays as it is. These commits never leave the sandbox: deliverChange takes the
 * whole diff since the clone, so the steps become one commit on the server.
 */
export async function commitCheckpoint(sandbox: Sandbox, message: string, signal?: AbortSignal): Promise<string> {
  await git(sandbox, ['add', '-A', '--', ...WORKSPACE_ONLY_PATHSPECS], signal);
  const staged = await sandbox.exec([...GIT, 'diff', '--cached', '--quiet'], { cwd: sandbox.workspace, env: ENV, timeoutMs: TIMEOUT_MS, ...(signal ? { signal } : {}) });
  if (staged.exitCode === 1) {
    await git(sandbox, [
      '-c', 'user.name=TeleCoder',
      '-c', 'user.email=telecoder@users.noreply.github.com',
      'commit', '-q', '--no-verify', '--no-gpg-sign', '-m', message,
    ], signal);
  }
  return headSha(sandbox, signal);
}

export async function headSha(sandbox: Sandbox, signal?: AbortSignal): Promise<string> {
  return (await git(sandbox, ['rev-parse', 'HEAD'], signal)).trim();
}

/**
 * Runs `work` with the workspace switched to the clone's base tree, then puts the agent's work
 * back exactly: the work is committed as a temporary commit first, and HEAD and the index return
 * to where they were afterwards. Installed dependencies (ignored, or node_modules/.venv) stay in
 * place, so the base's checks run with them. Rejects, without calling `work`, when the base cannot
 * be checked out; rejects after `work` only when the work could not be put back.
 */
export async function onBaseTree<T>(sandbox: Sandbox, baseSha: string, work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  const previous = await headSha(sandbox, signal);
  const branch = await sandbox.exec([...GIT, 'symbolic-ref', '-q', '--short', 'HEAD'], { cwd: sandbox.workspace, env: ENV, timeoutMs: TIMEOUT_MS, ...(signal ? { signal } : {}) });
  await git(sandbox, ['add', '-A', '--', ...WORKSPACE_ONLY_PATHSPECS], signal);
  await git(sandbox, [
    '-c', 'user.name=TeleCoder',
    '-c', 'user.email=telecoder@users.noreply.github.com',
    'commit', '-q', '--no-verify', '--no-gpg-sign', '--allow-empty', '-m', 'telecoder: work kept aside while checks run on the base',
  ], signal);
  const kept = await headSha(sandbox, signal);
  const restore = async () => {
    // Files the base's checks made go first; the kept commit then brings the work back.
    await git(sandbox, ['clean', '-fdq', ...KEEP_INSTALLED], signal);
    await git(sandbox, ['checkout', '-q', '-f', ...(branch.exitCode === 0 ? [branch.stdout.trim()] : ['--detach', kept])], signal);
    await git(sandbox, ['reset', '-q', previous], signal);
  };
  try {
    await git(sandbox, ['checkout', '-q', '-f', '--detach', baseSha], signal);
    await git(sandbox, ['clean', '-fdq', ...KEEP_INSTALLED], signal);
  } catch (error) {
    await restore();
    throw error;
  }
  try {
    return await work();
  } finally {
    try {
      await restore();
    } catch (error) {
      throw new Error(
        `could not put the agent's work back after running checks on the base tree (${error instanceof Error ? error.message : String(error)}); ` +
          `it is kept in the sandbox's commit ${kept.slice(0, 12)}`,
        { cause: error },
      );
    }
  }
}

/** `git clean` leaves installed dependencies alone even where .gitignore does not list them. */
const KEEP_INSTALLED = WORKSPACE_ONLY_EXCLUDE_LINES.flatMap((line) => ['-e', line]);

/** The step's change since its checkpoint, new files included, cut to `maxChars`. */
export async function diffSince(sandbox: Sandbox, sha: string, maxChars: number, signal?: AbortSignal): Promise<string> {
  await git(sandbox, ['add', '-A', '--', ...WORKSPACE_ONLY_PATHSPECS], signal);
  const diff = await git(
    sandbox,
    ['diff', '--cached', '--no-color', '--no-ext-diff', '--no-textconv', sha, '--', ...WORKSPACE_ONLY_PATHSPECS],
    signal,
    maxChars * 4 + 1024,
  );
  return diff.length > maxChars ? `${diff.slice(0, maxChars)}\n… (diff cut at ${maxChars} characters)` : diff;
}
