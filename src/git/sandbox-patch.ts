import type { ExecResult, Sandbox } from '../sandbox/runtime.js';
import { WORKSPACE_ONLY_PATHSPECS } from './workspace-only-paths.js';

export interface ExtractPatchOptions {
  /** Largest patch accepted; a bigger one fails instead of arriving cut short. */
  maxOutputBytes?: number;
  /** Per command. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

const DEFAULT_MAX_OUTPUT_BYTES = 50 * 1024 * 1024;
const DEFAULT_TIMEOUT_MS = 5 * 60_000;

/**
 * Config that the agent may have changed in the sandbox's .git/config and that would alter the
 * patch's shape (prefixes, relative paths, external tools). Hooks and fsmonitor would only run
 * inside the sandbox, but they are turned off so they cannot stall or fail the extraction.
 */
const SANDBOX_GIT_CONFIG = [
  '-c', 'core.hooksPath=/dev/null',
  '-c', 'core.fsmonitor=false',
  '-c', 'diff.noprefix=false',
  '-c', 'diff.mnemonicPrefix=false',
  '-c', 'diff.relative=false',
  '-c', 'core.quotePath=true',
];

const SANDBOX_GIT_ENV = { GIT_TERMINAL_PROMPT: '0', GIT_PAGER: 'cat', LC_ALL: 'C' };

function unusable(step: string, result: ExecResult): Error {
  const detail = (result.stderr || result.stdout).trim().slice(0, 2000);
  return new Error(
    `could not read the agent's changes: \`git ${step}\` failed in the sandbox (exit ${result.exitCode}), so the workspace's ` +
      `git metadata is unusable (the agent may have deleted or rewritten .git)${detail ? `: ${detail}` : ''}`,
  );
}

/**
 * Everything the agent changed since `baseSha` (commits, staged and unstaged edits, new files),
 * as one binary patch made inside the sandbox. Only git's output leaves the sandbox: the server
 * then applies it to its own clone with its own git.
 */
export async function extractPatch(sandbox: Sandbox, baseSha: string, options: ExtractPatchOptions = {}): Promise<string> {
  if (!/^[0-9a-f]{40}(?:[0-9a-f]{24})?$/.test(baseSha)) {
    throw new Error(`extractPatch needs the full commit id the work started from (got "${baseSha}")`);
  }
  const maxOutputBytes = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  const exec = (argv: string[], maxBytes: number) =>
    sandbox.exec(argv, {
      cwd: sandbox.workspace,
      env: SANDBOX_GIT_ENV,
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      maxOutputBytes: maxBytes,
      ...(options.signal ? { signal: options.signal } : {}),
    });

  // Installed dependencies and the virtualenv stay out even where .gitignore forgot them; the
  // server drops them again (and anything the base's .gitignore ignores) when it applies the patch.
  const added = await exec(['git', ...SANDBOX_GIT_CONFIG, 'add', '-A', '--', ...WORKSPACE_ONLY_PATHSPECS], 64 * 1024);
  if (added.timedOut) throw new Error('could not read the agent\'s changes: `git add -A` timed out in the sandbox');
  if (added.exitCode !== 0) throw unusable('add -A', added);

  const diff = await exec(
    [
      'git', ...SANDBOX_GIT_CONFIG,
      'diff', '--cached', '--binary', '--no-color', '--no-ext-diff', '--no-textconv', '--full-index',
      '--src-prefix=a/', '--dst-prefix=b/', baseSha, '--', ...WORKSPACE_ONLY_PATHSPECS,
    ],
    maxOutputBytes,
  );
  if (diff.timedOut) throw new Error('could not read the agent\'s changes: `git diff` timed out in the sandbox');
  if (diff.exitCode !== 0) throw unusable('diff', diff);
  if (diff.truncated || Buffer.byteLength(diff.stdout) > maxOutputBytes) {
    throw new Error(
      `the agent's changes make a patch larger than ${maxOutputBytes} bytes, so they were not taken; ` +
        `ask for a smaller change or keep generated files and binaries out of the repository`,
    );
  }
  // The exec channel carries text: bytes that are not UTF-8 (a Latin-1 source file, say) arrive
  // replaced, and applying that would silently corrupt the file. Fail loudly instead.
  if (diff.stdout.includes('\uFFFD')) {
    throw new Error(
      "the agent's patch contains text that is not valid UTF-8 (a changed file uses another encoding, " +
        'or contains U+FFFD); it cannot be carried back without corrupting that file',
    );
  }
  return diff.stdout;
}
