import type { Sandbox } from '../sandbox/runtime.js';
import { cleanOutput, cutOutput } from './checks/cut-output.js';
import { findMissingTool } from './checks/find-missing-tool.js';
import type { PlannedCheck } from './detect-checks.js';

export { formatCheckResults } from './checks/format-check-results.js';

export const DEFAULT_MAX_OUTPUT_CHARS = 8_000;

export interface CheckResult {
  name: string;
  command: string;
  kind: PlannedCheck['kind'];
  source: string;
  /** True only when the command ran and exited 0. */
  passed: boolean;
  /** null when the check was not run. */
  exitCode: number | null;
  timedOut: boolean;
  durationMs: number;
  /** stdout and stderr as they came, cut to the head and tail (ANSI colours removed). */
  output: string;
  /** The command's tool is not installed in the sandbox: treat as skipped, not as a failure of the code. */
  missingTool?: boolean;
  /** The missing tool, when `missingTool`. */
  tool?: string;
  /** Not run because a setup command before it failed. */
  skipped?: boolean;
  /** One line for people: why it was skipped or failed the way it did. */
  note?: string;
  /**
   * For a check that still failed at the end: how it did on the base tree, before the change
   * (`unknown` when it could not be run there).
   */
  before?: 'passing' | 'failing' | 'unknown';
}

export interface RunChecksOptions {
  timeoutMsPerCheck: number;
  /** Per check; the head and tail of a longer output are kept. Default 8000. */
  maxOutputChars?: number;
  signal?: AbortSignal;
  /** Called as each check finishes (for progress events). */
  onCheck?: (result: CheckResult) => void;
}

/**
 * Runs the command with stdout and stderr merged into one pipe, so their lines stay in order.
 * The exec's stdout keeps the start of it; `tail` writes the last $2 bytes to stderr at the end,
 * so the end survives an output far larger than anything kept. The check's command is "$1",
 * one argument, never pasted into this script.
 */
const WRAPPER = 'bash -c "$1" 2>&1 | { tee >(tail -c "$2" >&2); wait $!; }; exit "${PIPESTATUS[0]}"';

/**
 * Runs checks one after another in the workspace with `bash -c`. A setup command that fails
 * (missing tool included) stops the run: what follows is reported as skipped, since it would
 * fail for the setup's reason rather than the code's. Rejects only when the sandbox fails or
 * `signal` aborts.
 */
export async function runChecks(sandbox: Sandbox, checks: readonly PlannedCheck[], options: RunChecksOptions): Promise<CheckResult[]> {
  const { timeoutMsPerCheck, signal, onCheck } = options;
  if (!Number.isFinite(timeoutMsPerCheck) || timeoutMsPerCheck <= 0) {
    throw new Error(`runChecks needs a positive timeoutMsPerCheck (got ${timeoutMsPerCheck}); pass the time one check may take, in ms`);
  }
  const maxOutputChars = Math.max(200, Math.floor(options.maxOutputChars ?? DEFAULT_MAX_OUTPUT_CHARS));
  // A UTF-8 character is at most 4 bytes, so this many bytes always hold maxOutputChars characters.
  const keepBytes = maxOutputChars * 4;

  const results: CheckResult[] = [];
  let failedSetup: CheckResult | undefined;
  for (const check of checks) {
    signal?.throwIfAborted();
    const result = failedSetup
      ? skippedResult(check, `not run: setup command \`${failedSetup.command}\` failed`)
      : await runOne(sandbox, check, { timeoutMsPerCheck, maxOutputChars, keepBytes, signal });
    if (check.kind === 'setup' && !result.passed && !failedSetup) failedSetup = result;
    results.push(result);
    onCheck?.(result);
  }
  return results;
}

async function runOne(
  sandbox: Sandbox,
  check: PlannedCheck,
  options: { timeoutMsPerCheck: number; maxOutputChars: number; keepBytes: number; signal: AbortSignal | undefined },
): Promise<CheckResult> {
  const started = Date.now();
  const exec = await sandbox.exec(['bash', '-c', WRAPPER, 'bash', check.command, String(options.keepBytes)], {
    timeoutMs: options.timeoutMsPerCheck,
    cwd: sandbox.workspace,
    // CI makes test runners non-interactive (no watch mode); NO_COLOR keeps the output plain text.
    env: { CI: 'true', NO_COLOR: '1' },
    maxOutputBytes: options.keepBytes,
    signal: options.signal,
  });
  const durationMs = Date.now() - started;
  // Not truncated: stdout is the whole output. Truncated: stdout is its start and stderr its end.
  // Timed out: the tail never got written, so the start is all there is.
  const output = cutOutput(
    { head: cleanOutput(exec.stdout), tail: exec.timedOut ? '' : cleanOutput(exec.stderr), whole: !exec.truncated },
    options.maxOutputChars,
  );
  const base = { name: check.name, command: check.command, kind: check.kind, source: check.source, durationMs, output };
  if (exec.timedOut) {
    const seconds = Math.max(1, Math.ceil(options.timeoutMsPerCheck / 1000));
    return { ...base, passed: false, exitCode: exec.exitCode, timedOut: true, note: `timed out after ${seconds} s and was stopped` };
  }
  const tool = findMissingTool(check.command, exec.exitCode, output);
  if (tool) {
    return {
      ...base,
      passed: false,
      exitCode: exec.exitCode,
      timedOut: false,
      missingTool: true,
      tool,
      note: `${tool} is not installed in the sandbox`,
    };
  }
  return { ...base, passed: exec.exitCode === 0, exitCode: exec.exitCode, timedOut: false };
}

/** A check that was not run, with why. */
export function skippedResult(check: PlannedCheck, note: string): CheckResult {
  return {
    name: check.name,
    command: check.command,
    kind: check.kind,
    source: check.source,
    passed: false,
    exitCode: null,
    timedOut: false,
    durationMs: 0,
    output: '',
    skipped: true,
    note,
  };
}
