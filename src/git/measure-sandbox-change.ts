import type { Sandbox } from '../sandbox/runtime.js';
import {
  CHANGE_FILES_SETTING,
  CHANGE_SIZE_SETTING,
  ChangeTooLargeError,
  formatBytes,
  raiseHint,
  shownPath,
  type ChangeLimits,
} from './change-limits.js';
import { SANDBOX_GIT_ENV, sandboxGit } from './git-walls.js';
import { WORKSPACE_ONLY_PATHSPECS } from './workspace-only-paths.js';

export interface SandboxChangeSize {
  /** Files the change touches: changed and deleted tracked files, and new files. */
  files: number;
  /** Their sizes as they are now, in full (a sparse file at its apparent size). */
  bytes: number;
  /** The largest of them, largest first. */
  largest: Array<{ path: string; bytes: number }>;
}

const LARGEST_SHOWN = 5;
/** A record is a size and a path; anything longer did not come from stat. */
const MAX_RECORD_BYTES = 64 * 1024;

const quote = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;

/**
 * One shell run in the workspace: the paths the change touches, from git (tracked files that differ
 * from the base, then new files that are not ignored), counted, then each one's size from stat
 * (deleted files have none). Nothing is hashed or added, so a 3 GB file costs a stat, not a read.
 * Records are NUL-terminated: "files N", then "size BYTES PATH" for each file that exists.
 */
function measureScript(): string {
  const git = sandboxGit().map(quote).join(' ');
  const pathspecs = WORKSPACE_ONLY_PATHSPECS.map(quote).join(' ');
  return [
    'list=$(mktemp) || exit 70',
    `trap 'rm -f "$list"' EXIT`,
    `${git} diff --name-only -z --no-renames --no-ext-diff "$1" -- ${pathspecs} > "$list" || exit 71`,
    `${git} ls-files -z --others --exclude-standard -- ${pathspecs} >> "$list" || exit 71`,
    `printf 'files %s\\0' "$(tr -cd '\\000' < "$list" | wc -c)"`,
    `xargs -0r stat --printf 'size %s %n\\0' -- < "$list" 2>/dev/null`,
    'exit 0',
  ].join('\n');
}

/** Keeps the count, the total and the largest few of the records, whatever their number. */
class SizeTally {
  files: number | undefined;
  bytes = 0;
  readonly largest: Array<{ path: string; bytes: number }> = [];

  add(record: Buffer): void {
    const text = record.toString('utf8');
    const files = /^files\s*(\d+)\s*$/.exec(text);
    if (files) {
      this.files = Number(files[1]);
      return;
    }
    const sized = /^size (\d+) ([\s\S]*)$/.exec(text);
    if (!sized) return;
    const size = Number(sized[1]);
    this.bytes += size;
    if (this.largest.length === LARGEST_SHOWN && size <= this.largest[LARGEST_SHOWN - 1]!.bytes) return;
    this.largest.push({ path: sized[2]!, bytes: size });
    this.largest.sort((a, b) => b.bytes - a.bytes);
    if (this.largest.length > LARGEST_SHOWN) this.largest.pop();
  }
}

export interface MeasureOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * How many files the agent's change touches since `baseSha` and how big they are, measured in the
 * sandbox before anything is moved. The numbers come from the sandbox, so they serve to refuse
 * early with a useful message; the server enforces the limits again on what it receives.
 */
export async function measureSandboxChange(sandbox: Sandbox, baseSha: string, options: MeasureOptions): Promise<SandboxChangeSize> {
  const run = await sandbox.execStream(['sh', '-c', measureScript(), 'sh', baseSha], {
    cwd: sandbox.workspace,
    env: SANDBOX_GIT_ENV,
    timeoutMs: options.timeoutMs,
    maxOutputBytes: 16 * 1024,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  // Streamed and tallied as it comes: a change of a million files is a lot of records.
  const tally = new SizeTally();
  let pending: Buffer = Buffer.alloc(0);
  for await (const chunk of run.stdout as AsyncIterable<Buffer>) {
    let data = pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk;
    for (let end = data.indexOf(0); end >= 0; end = data.indexOf(0)) {
      tally.add(data.subarray(0, end));
      data = data.subarray(end + 1);
    }
    pending = data.length > MAX_RECORD_BYTES ? Buffer.alloc(0) : Buffer.from(data);
  }
  const result = await run.result;
  if (result.timedOut) throw new Error(`could not measure the agent's changes: listing them timed out in the sandbox after ${Math.round(options.timeoutMs / 1000)} s`);
  const detail = result.stderr.trim().slice(0, 2000);
  if (result.exitCode === 71) {
    throw new Error(
      `could not read the agent's changes: git failed in the sandbox (exit ${result.exitCode}), so the workspace's git metadata is ` +
        `unusable (the agent may have deleted or rewritten .git)${detail ? `: ${detail}` : ''}`,
    );
  }
  if (result.exitCode !== 0 || tally.files === undefined) {
    throw new Error(`could not measure the agent's changes in the sandbox (exit ${result.exitCode})${detail ? `: ${detail}` : ''}`);
  }
  return { files: tally.files, bytes: tally.bytes, largest: tally.largest };
}

/** Refuses a change over either limit, naming its largest files and the setting that raises it. */
export function assertChangeWithinLimits(change: SandboxChangeSize, limits: ChangeLimits): void {
  const largest = change.largest.map((file) => `${shownPath(file.path)} (${formatBytes(file.bytes)})`).join(', ');
  const shown = largest ? `; the largest: ${largest}` : '';
  if (change.bytes > limits.maxBytes) {
    throw new ChangeTooLargeError(
      `the agent's change is too large to deliver: its ${change.files} changed file(s) come to ${formatBytes(change.bytes)}, ` +
        `over the ${formatBytes(limits.maxBytes)} limit${shown}. Nothing was taken from the sandbox; ${raiseHint(CHANGE_SIZE_SETTING)}`,
    );
  }
  if (change.files > limits.maxFiles) {
    throw new ChangeTooLargeError(
      `the agent's change touches ${change.files} files, over the limit of ${limits.maxFiles}${shown}. ` +
        `Nothing was taken from the sandbox; ${raiseHint(CHANGE_FILES_SETTING)}`,
    );
  }
}
