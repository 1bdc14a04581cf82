import { isHeldBackPath } from './held-back-paths.js';
import { runGit } from './run-git.js';

/** A change that was taken out of what gets pushed, with what a person needs to add it by hand. */
export interface HeldBackFile {
  path: string;
  change: 'added' | 'modified' | 'deleted';
  /** The agent's version, when it is text and small enough to show. */
  content?: string;
  /** Why `content` is missing for a file that was not deleted. */
  omitted?: 'binary' | 'too large' | 'not shown: too many files' | 'a submodule';
  /** A symbolic link: `content` is its target. */
  symlink?: boolean;
}

export interface HoldBackOptions {
  /** The server's clone, whose index holds the applied change. */
  dir: string;
  /** The commit the change is measured from; held-back paths go back to how they are there. */
  baseSha: string;
  /** Which paths to hold back; default the workflow directories (isHeldBackPath). */
  holdBack?: (path: string) => boolean;
  /** Largest file whose content is kept (bytes); default 10,000. */
  maxFileBytes?: number;
  /** Content kept over all files (bytes); default 30,000, so a pull request body stays far below GitHub's 65,536 characters. */
  maxTotalBytes?: number;
  timeoutMs?: number;
  signal?: AbortSignal;
}

const DEFAULT_MAX_FILE_BYTES = 10_000;
const DEFAULT_MAX_TOTAL_BYTES = 30_000;

interface IndexChange {
  path: string;
  oldMode: string;
  oldSha: string;
  newMode: string;
  newSha: string;
  status: string;
}

/** Records of `git diff-index -z` raw output: ":old new oldSha newSha STATUS\0path\0". */
function parseRawDiff(raw: string): IndexChange[] {
  const fields = raw.split('\0');
  const changes: IndexChange[] = [];
  for (let index = 0; index + 1 < fields.length; index += 2) {
    const header = fields[index]!;
    const path = fields[index + 1]!;
    const match = /^:(\d{6}) (\d{6}) ([0-9a-f]+) ([0-9a-f]+) ([A-Z])\d*$/.exec(header);
    if (!match) continue;
    changes.push({ oldMode: match[1]!, newMode: match[2]!, oldSha: match[3]!, newSha: match[4]!, status: match[5]!, path });
  }
  return changes;
}

/**
 * Takes the held-back paths out of the change staged in the clone's index: each goes back to its
 * entry at the base (or out of the index, when the agent added it), so the commit cannot carry it.
 * The paths come from git's own comparison of the index with the base, not from the patch text.
 * Returns what was held back, with the agent's version of each (capped) for a person to add.
 */
export async function holdBackChanges(options: HoldBackOptions): Promise<HeldBackFile[]> {
  const holdBack = options.holdBack ?? isHeldBackPath;
  const run = (args: string[], input?: string) =>
    runGit(args, { cwd: options.dir, timeoutMs: options.timeoutMs, signal: options.signal, ...(input !== undefined ? { input } : {}) });

  const raw = (await run(['diff-index', '--cached', '-z', '--no-renames', '--no-abbrev', options.baseSha])).stdout;
  const held = parseRawDiff(raw).filter((change) => holdBack(change.path));
  if (held.length === 0) return [];

  const files = await describe(held, options, run);
  // Mode 0 removes a path from the index; any other entry is put back as the base had it.
  const entries = held.map((change) =>
    /^0+$/.test(change.oldMode) ? `0 ${change.oldSha}\t${change.path}` : `${change.oldMode} ${change.oldSha}\t${change.path}`,
  );
  await run(['update-index', '-z', '--index-info'], `${entries.join('\0')}\0`);
  return files;
}

async function describe(
  held: IndexChange[],
  options: HoldBackOptions,
  run: (args: string[]) => Promise<{ stdout: string }>,
): Promise<HeldBackFile[]> {
  const maxFile = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  let budget = options.maxTotalBytes ?? DEFAULT_MAX_TOTAL_BYTES;
  const files: HeldBackFile[] = [];
  for (const change of held) {
    const deleted = /^0+$/.test(change.newMode);
    const file: HeldBackFile = {
      path: change.path,
      change: deleted ? 'deleted' : /^0+$/.test(change.oldMode) ? 'added' : 'modified',
    };
    files.push(file);
    if (deleted) continue;
    if (change.newMode === '160000') {
      file.omitted = 'a submodule';
      continue;
    }
    if (change.newMode === '120000') file.symlink = true;
    const size = Number((await run(['cat-file', '-s', change.newSha])).stdout.trim());
    if (size > maxFile) {
      file.omitted = 'too large';
      continue;
    }
    if (size > budget) {
      file.omitted = 'not shown: too many files';
      continue;
    }
    const text = (await run(['cat-file', 'blob', change.newSha])).stdout;
    // NUL or bytes that are not UTF-8 (decoded as U+FFFD): not something to paste from a page.
    if (text.includes('\0') || text.includes('\uFFFD')) {
      file.omitted = 'binary';
      continue;
    }
    file.content = text;
    budget -= size;
  }
  return files;
}
