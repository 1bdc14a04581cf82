import { Transform, type TransformCallback } from 'node:stream';
import { decodeBinaryHunkLine, deltaResultSize } from './binary-hunk-data.js';
import {
  CHANGE_FILES_SETTING,
  CHANGE_SIZE_SETTING,
  ChangeTooLargeError,
  formatBytes,
  maxPatchBytes,
  raiseHint,
  shownPath,
  type ChangeLimits,
} from './change-limits.js';

/** Only the start of a line is ever looked at; the rest of a long line is passed on unread. */
const MAX_LINE_KEPT = 1024;
/** A binary delta's result size is read from its first data lines (git's deflate starts at once). */
const MAX_DELTA_HEADER_LINES = 16;

type State =
  | { kind: 'text' }
  /** The line after `GIT binary patch`: the forward hunk's header. */
  | { kind: 'binary-header' }
  /** The first data lines of a forward delta, until its result size can be read. */
  | { kind: 'delta-start'; data: Buffer[]; lines: number };

/**
 * Passes a patch through unchanged while refusing, before git sees any of it, a patch that would
 * make git on the server use more than the change limits allow. The sandbox measured its change
 * itself, but the sandbox is not trusted: this is the check that holds.
 *
 * - The patch text may be no longer than maxPatchBytes(limits).
 * - Binary hunks: git inflates every `literal N` / `delta N` hunk of a patch (old content and
 *   new) into N bytes while it reads the patch, and then builds each new file a delta makes, of
 *   the size the delta's own header gives. The new side (forward literals and deltas, and what the
 *   deltas make) may come to no more than limits.maxBytes, and so may the old side.
 * - Files: no more than limits.maxFiles, counted from file headers (`diff --git`, or the
 *   `---`/`+++`/`@@ -` lines that start a file in a traditional diff), so git never even parses
 *   an endless list of tiny files. git's own list is checked again after this.
 *
 * Any `literal`/`delta` line git would read a size from must hold a plain number; anything else
 * is refused, so no header can say one size here and another to git.
 */
export class PatchSizeGuard extends Transform {
  readonly #limits: ChangeLimits;
  readonly #maxPatchBytes: number;
  #patchBytes = 0;
  #newBytes = 0;
  #oldBytes = 0;
  #files = 0;
  #state: State = { kind: 'text' };
  /** The start of the line being read (up to MAX_LINE_KEPT bytes) and its whole length so far. */
  #line: Buffer[] = [];
  #lineKept = 0;
  #lineLength = 0;
  /** The last two lines, for the `---`/`+++`/`@@ -` start of a traditional diff's file. */
  #previous = ['', ''];
  /** Inside a `diff --git` header: its `---`/`+++` lines are not a file of their own. */
  #inGitHeader = false;
  #file = '';

  constructor(limits: ChangeLimits) {
    super();
    this.#limits = limits;
    this.#maxPatchBytes = maxPatchBytes(limits);
  }

  /** Bytes passed through so far. */
  get patchBytes(): number {
    return this.#patchBytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#patchBytes += chunk.length;
    if (this.#patchBytes > this.#maxPatchBytes) {
      callback(
        new ChangeTooLargeError(
          `the agent's patch was refused: it is longer than ${formatBytes(this.#maxPatchBytes)}, more than a change within the limits ` +
            `(${CHANGE_SIZE_SETTING}=${formatBytes(this.#limits.maxBytes)}, ${CHANGE_FILES_SETTING}=${this.#limits.maxFiles}) makes; ` +
            raiseHint(CHANGE_SIZE_SETTING),
        ),
      );
      return;
    }
    try {
      let start = 0;
      for (let end = chunk.indexOf(10); end >= 0; end = chunk.indexOf(10, start)) {
        this.#take(chunk.subarray(start, end));
        this.#endLine();
        start = end + 1;
      }
      this.#take(chunk.subarray(start));
    } catch (error) {
      callback(error as Error);
      return;
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    try {
      if (this.#lineLength > 0) this.#endLine();
      // A delta that ended with the patch: git finds it corrupt, but it is refused here first.
      if (this.#state.kind !== 'text') this.#refuseMalformed('ends in the middle of a binary hunk');
    } catch (error) {
      callback(error as Error);
      return;
    }
    callback();
  }

  #take(part: Buffer): void {
    this.#lineLength += part.length;
    if (this.#lineKept >= MAX_LINE_KEPT || part.length === 0) return;
    const kept = part.subarray(0, MAX_LINE_KEPT - this.#lineKept);
    this.#line.push(kept);
    this.#lineKept += kept.length;
  }

  #endLine(): void {
    const whole = this.#lineLength <= MAX_LINE_KEPT;
    // latin1: one character per byte, so lengths and the base85 data stay exact.
    const line = Buffer.concat(this.#line).toString('latin1');
    this.#line = [];
    this.#lineKept = 0;
    this.#lineLength = 0;
    this.#readLine(line, whole);
    this.#previous = [this.#previous[1]!, line.slice(0, 4)];
  }

  #readLine(line: string, whole: boolean): void {
    const state = this.#state;
    if (state.kind === 'binary-header') {
      this.#state = { kind: 'text' };
      const size = this.#hunkSize(line, whole);
      if (size === undefined) this.#refuseMalformed('has no `literal` or `delta` line after `GIT binary patch`');
      this.#addNew(size!);
      if (line.startsWith('delta ')) this.#state = { kind: 'delta-start', data: [], lines: 0 };
      return;
    }
    if (state.kind === 'delta-start') {
      const data = whole ? decodeBinaryHunkLine(line) : undefined;
      if (data === undefined) this.#refuseMalformed('has a binary delta whose size cannot be read');
      state.data.push(data!);
      state.lines++;
      const size = deltaResultSize(Buffer.concat(state.data));
      if (size !== undefined) {
        this.#state = { kind: 'text' };
        this.#addNew(size);
      } else if (state.lines >= MAX_DELTA_HEADER_LINES) {
        this.#refuseMalformed('has a binary delta whose size cannot be read');
      }
      return;
    }

    if (line.startsWith('diff --git ')) {
      this.#file = line.slice('diff --git '.length);
      this.#inGitHeader = true;
      this.#countFile();
      return;
    }
    if (line.startsWith('@@ -')) {
      const [beforeMinus, beforePlus] = this.#previous;
      if (!this.#inGitHeader && beforeMinus === '--- ' && beforePlus === '+++ ') {
        this.#file = 'a traditional diff';
        this.#countFile();
      }
      this.#inGitHeader = false;
      return;
    }
    if (whole && line === 'GIT binary patch') {
      this.#inGitHeader = false;
      this.#state = { kind: 'binary-header' };
      return;
    }
    // Any other size line is one git may read as an old-content hunk (the second of a pair).
    const size = this.#hunkSize(line, whole);
    if (size !== undefined) this.#addOld(size);
  }

  /** The N of a `literal N` / `delta N` line; undefined for other lines; refuses a size that is not plain. */
  #hunkSize(line: string, whole: boolean): number | undefined {
    const prefix = line.startsWith('literal ') ? 'literal ' : line.startsWith('delta ') ? 'delta ' : undefined;
    if (prefix === undefined) return undefined;
    const digits = line.slice(prefix.length).replace(/\r$/, '');
    if (!whole || !/^\d{1,15}$/.test(digits)) this.#refuseMalformed(`has a binary hunk size git could read differently ("${shownPath(line.slice(0, 60))}")`);
    return Number(digits);
  }

  #countFile(): void {
    this.#files++;
    if (this.#files > this.#limits.maxFiles) {
      throw new ChangeTooLargeError(
        `the agent's patch was refused: it changes more than ${this.#limits.maxFiles} files, over the limit; ${raiseHint(CHANGE_FILES_SETTING)}`,
      );
    }
  }

  #addNew(size: number): void {
    this.#newBytes += size;
    if (this.#newBytes > this.#limits.maxBytes) {
      throw new ChangeTooLargeError(
        `the agent's patch was refused before git expanded it: its binary files come to at least ${formatBytes(this.#newBytes)} ` +
          `(${this.#shownFile()} alone to ${formatBytes(size)}), over the ${formatBytes(this.#limits.maxBytes)} limit; ${raiseHint(CHANGE_SIZE_SETTING)}`,
      );
    }
  }

  #addOld(size: number): void {
    this.#oldBytes += size;
    if (this.#oldBytes > this.#limits.maxBytes) {
      throw new ChangeTooLargeError(
        `the agent's patch was refused before git expanded it: it carries ${formatBytes(this.#oldBytes)} of the old content of binary ` +
          `files it changes or deletes (${this.#shownFile()} alone ${formatBytes(size)}), over the ${formatBytes(this.#limits.maxBytes)} ` +
          `limit; ${raiseHint(CHANGE_SIZE_SETTING)}`,
      );
    }
  }

  #refuseMalformed(what: string): never {
    throw new Error(`the agent's patch was refused: the patch for ${this.#shownFile()} ${what}; it was not made by git diff`);
  }

  /** The file a `diff --git a/X b/X` header names, for messages. */
  #shownFile(): string {
    const header = this.#file;
    const half = (header.length - 1) / 2;
    const before = header.slice(0, half);
    const after = header.slice(half + 1);
    if (before.startsWith('a/') && after.startsWith('b/') && before.slice(2) === after.slice(2)) return shownPath(before.slice(2));
    return shownPath(header || 'a file');
  }
}
