import { Readable } from 'node:stream';
import type { ExecResult, Sandbox } from '../sandbox/runtime.js';
import { DEFAULT_CHANGE_LIMITS, type ChangeLimits } from './change-limits.js';
import { SANDBOX_GIT_ENV, sandboxGit } from './git-walls.js';
import { assertChangeWithinLimits, measureSandboxChange } from './measure-sandbox-change.js';
import { cutDiff } from './cut-diff.js';
import { WORKSPACE_ONLY_PATHSPECS } from './workspace-only-paths.js';

export interface ExtractPatchOptions {
  /**
   * What the change may expand to, checked in the sandbox before anything is moved (the server
   * checks again as the patch arrives: see GitWorkspace.applyPatch). The settings' defaults when omitted.
   */
  limits?: ChangeLimits;
  /** Per command. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

const DEFAULT_TIMEOUT_MS = 5 * 60_000;

function unusable(step: string, result: Pick<ExecResult, 'exitCode' | 'stderr'>): Error {
  const detail = result.stderr.trim().slice(0, 2000);
  return new Error(
    `could not read the agent's changes: \`git ${step}\` failed in the sandbox (exit ${result.exitCode}), so the workspace's ` +
      `git metadata is unusable (the agent may have deleted or rewritten .git)${detail ? `: ${detail}` : ''}`,
  );
}

/**
 * Everything the agent changed since `baseSha` (commits, staged and unstaged edits, new files),
 * as one binary patch made inside the sandbox and streamed out as it is made. Only git's output
 * leaves the sandbox: the server then applies it to its own clone with its own git.
 *
 * First the change is measured where it is (one command: which files, how big), and a change over
 * the limits is refused there, naming its largest files, before anything is hashed or moved. The
 * patch is then a stream of bytes, exactly as git wrote them (any encoding): read it to its end,
 * or destroy it to stop the command. It fails (as a stream error) when git fails in the sandbox.
 */
export async function extractPatch(sandbox: Sandbox, baseSha: string, options: ExtractPatchOptions = {}): Promise<Readable> {
  if (!/^[0-9a-f]{40}(?:[0-9a-f]{24})?$/.test(baseSha)) {
    throw new Error(`extractPatch needs the full commit id the work started from (got "${baseSha}")`);
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const signal = options.signal ? { signal: options.signal } : {};
  const execOptions = { cwd: sandbox.workspace, env: SANDBOX_GIT_ENV, timeoutMs, ...signal };

  const size = await measureSandboxChange(sandbox, baseSha, { timeoutMs, ...signal });
  assertChangeWithinLimits(size, options.limits ?? DEFAULT_CHANGE_LIMITS);

  // Installed dependencies and the virtualenv stay out even where .gitignore forgot them; the
  // server drops them again (and anything the base's .gitignore ignores) when it applies the patch.
  const added = await sandbox.exec(sandboxGit('add', '-A', '--', ...WORKSPACE_ONLY_PATHSPECS), { ...execOptions, maxOutputBytes: 64 * 1024 });
  if (added.timedOut) throw new Error('could not read the agent\'s changes: `git add -A` timed out in the sandbox');
  if (added.exitCode !== 0) throw unusable('add -A', { exitCode: added.exitCode, stderr: added.stderr || added.stdout });

  const diff = await sandbox.execStream(
    sandboxGit(
      'diff', '--cached', '--binary', '--no-color', '--no-ext-diff', '--no-textconv', '--full-index', '--unified=3',
      '--src-prefix=a/', '--dst-prefix=b/', baseSha, '--', ...WORKSPACE_ONLY_PATHSPECS,
    ),
    { ...execOptions, maxOutputBytes: 64 * 1024 },
  );
  async function* patchBytes(): AsyncGenerator<Buffer> {
    // Leaving this loop early (the reader stopped) destroys the stream, which kills the command.
    for await (const chunk of diff.stdout as AsyncIterable<Buffer>) yield chunk;
    const result = await diff.result;
    if (result.timedOut) throw new Error('could not read the agent\'s changes: `git diff` timed out in the sandbox');
    if (result.exitCode !== 0) throw unusable('diff', result);
  }
  return Readable.from(patchBytes(), { objectMode: false });
}

/**
 * What the agent changed since `baseSha` so far, as a readable unified diff (binary files named,
 * not encoded), read in the sandbox for people to look at while it still runs (a chat's `/diff`).
 * Cut at `maxBytes`.
 */
export async function sandboxDiffText(
  sandbox: Sandbox,
  baseSha: string,
  options: { maxBytes: number; signal?: AbortSignal; timeoutMs?: number },
): Promise<string> {
  if (!/^[0-9a-f]{40}(?:[0-9a-f]{24})?$/.test(baseSha)) {
    throw new Error(`sandboxDiffText needs the full commit id the work started from (got "${baseSha}")`);
  }
  const execOptions = {
    cwd: sandbox.workspace,
    env: SANDBOX_GIT_ENV,
    timeoutMs: options.timeoutMs ?? 60_000,
    ...(options.signal ? { signal: options.signal } : {}),
  };
  // New files show only once added; extractPatch adds them the same way when the change is delivered.
  const added = await sandbox.exec(sandboxGit('add', '-A', '--', ...WORKSPACE_ONLY_PATHSPECS), { ...execOptions, maxOutputBytes: 64 * 1024 });
  if (added.exitCode !== 0) throw unusable('add -A', { exitCode: added.exitCode, stderr: added.stderr || added.stdout });
  const diff = await sandbox.exec(
    sandboxGit('diff', '--cached', '--no-color', '--no-ext-diff', '--no-textconv', '--unified=3', '--src-prefix=a/', '--dst-prefix=b/', baseSha, '--', ...WORKSPACE_ONLY_PATHSPECS),
    { ...execOptions, maxOutputBytes: options.maxBytes },
  );
  if (diff.exitCode !== 0 && !diff.truncated) throw unusable('diff', diff);
  return diff.truncated ? cutDiff(`${diff.stdout}\n`, options.maxBytes - 200) : diff.stdout;
}
