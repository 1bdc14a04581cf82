import { posix } from 'node:path';
import type { Sandbox } from '../../sandbox/runtime.js';

/** Project files larger than this are not parsed: no real manifest is this big, a hostile one may be. */
export const MAX_PROJECT_FILE_BYTES = 256 * 1024;
/** A listing of more top-level entries than fits here is cut; the names we look for are still found in practice. */
const MAX_LISTING_BYTES = 512 * 1024;
const EXEC_TIMEOUT_MS = 15_000;

/** What detection needs to know about the repository: its top level and the text of a few files. */
export interface ProjectFiles {
  /** Top-level regular files (symlinks to regular files included). */
  files: ReadonlySet<string>;
  /** Top-level directories. */
  dirs: ReadonlySet<string>;
  /** Text of the files that were asked for, present, readable and within the size limit. */
  text: ReadonlyMap<string, string>;
  /** Whether tests/ or test/ holds a pytest-style file (test_*.py or *_test.py). */
  hasPythonTestFiles: boolean;
}

export interface ReadProjectFilesOptions {
  /** Top-level file names whose text detection wants to read (only those present are read). */
  wanted: readonly string[];
  signal?: AbortSignal;
}

/**
 * Reads the repository's top level inside the sandbox. Every command is argv-only with fixed
 * programs; file names passed to them come from our own list, never from the repository. A
 * command that fails just means "not there": the repository is untrusted and may be anything.
 */
export async function readProjectFiles(sandbox: Sandbox, options: ReadProjectFilesOptions): Promise<ProjectFiles> {
  const { signal } = options;
  const root = sandbox.workspace;
  // %Y is the type after following symlinks, so a symlinked manifest still counts as a file.
  const listing = await sandbox.exec(['find', root, '-mindepth', '1', '-maxdepth', '1', '-printf', '%Y\\t%f\\n'], {
    timeoutMs: EXEC_TIMEOUT_MS,
    maxOutputBytes: MAX_LISTING_BYTES,
    signal,
  });
  const files = new Set<string>();
  const dirs = new Set<string>();
  if (listing.exitCode === 0 || listing.stdout.length > 0) {
    const lines = listing.stdout.split('\n');
    // A cut listing ends in half a line.
    if (listing.truncated) lines.pop();
    for (const line of lines) {
      const tab = line.indexOf('\t');
      if (tab !== 1) continue;
      const type = line[0];
      const name = line.slice(2);
      if (type === 'f') files.add(name);
      else if (type === 'd') dirs.add(name);
    }
  }

  const text = new Map<string, string>();
  await Promise.all(
    options.wanted
      .filter((name) => files.has(name))
      .map(async (name) => {
        const content = await readBounded(sandbox, posix.join(root, name), signal);
        if (content !== undefined) text.set(name, content);
      }),
  );

  const testDirs = ['tests', 'test'].filter((dir) => dirs.has(dir)).map((dir) => posix.join(root, dir));
  let hasPythonTestFiles = false;
  if (testDirs.length > 0) {
    const found = await sandbox.exec(
      ['find', ...testDirs, '-maxdepth', '4', '-type', 'f', '(', '-name', 'test_*.py', '-o', '-name', '*_test.py', ')', '-print', '-quit'],
      { timeoutMs: EXEC_TIMEOUT_MS, maxOutputBytes: 4096, signal },
    );
    hasPythonTestFiles = found.stdout.trim().length > 0;
  }

  return { files, dirs, text, hasPythonTestFiles };
}

/** The file's text, or undefined when it is unreadable or over the limit (one byte more is read to tell). */
async function readBounded(sandbox: Sandbox, path: string, signal: AbortSignal | undefined): Promise<string | undefined> {
  const result = await sandbox.exec(['head', '-c', String(MAX_PROJECT_FILE_BYTES + 1), '--', path], {
    timeoutMs: EXEC_TIMEOUT_MS,
    maxOutputBytes: MAX_PROJECT_FILE_BYTES + 1,
    signal,
  });
  if (result.exitCode !== 0 || result.timedOut || result.truncated) return undefined;
  if (Buffer.byteLength(result.stdout, 'utf8') > MAX_PROJECT_FILE_BYTES) return undefined;
  return result.stdout;
}
