import type { Sandbox } from '../sandbox/runtime.js';

/** Hooks off: the agent may have written .git/hooks, and a checkpoint must never run its code. */
const GIT = ['git', '-c', 'core.hooksPath=/dev/null', '-c', 'core.fsmonitor=false'];
const ENV = { GIT_TERMINAL_PROMPT: '0', GIT_PAGER: 'cat', LC_ALL: 'C' };
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
  await git(sandbox, ['add', '-A'], signal);
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

/** Throws a failed step's work away: back to the last checkpoint, untracked files removed. */
export async function rollBack(sandbox: Sandbox, sha: string, signal?: AbortSignal): Promise<void> {
  await git(sandbox, ['reset', '-q', '--hard', sha], signal);
  await git(sandbox, ['clean', '-fdq'], signal);
}

/** The step's change since its checkpoint, new files included, cut to `maxChars`. */
export async function diffSince(sandbox: Sandbox, sha: string, maxChars: number, signal?: AbortSignal): Promise<string> {
  await git(sandbox, ['add', '-A'], signal);
  const diff = await git(sandbox, ['diff', '--cached', '--no-color', '--no-ext-diff', '--no-textconv', sha], signal, maxChars * 4 + 1024);
  return diff.length > maxChars ? `${diff.slice(0, maxChars)}\n… (diff cut at ${maxChars} characters)` : diff;
}
