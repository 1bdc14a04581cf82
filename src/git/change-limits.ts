import bytes from 'bytes';

/** What one change may expand to (TELECODER_MAX_CHANGE_SIZE, TELECODER_MAX_CHANGE_FILES). */
export interface ChangeLimits {
  /** The changed files' total size, counted in full (a sparse file at its apparent size). */
  maxBytes: number;
  /** How many files one change may touch (added, changed, deleted). */
  maxFiles: number;
}

/** The settings' defaults (src/config/config.ts parses the same). */
export const DEFAULT_CHANGE_LIMITS: ChangeLimits = { maxBytes: 100 * 1024 * 1024, maxFiles: 20_000 };

export const CHANGE_SIZE_SETTING = 'TELECODER_MAX_CHANGE_SIZE';
export const CHANGE_FILES_SETTING = 'TELECODER_MAX_CHANGE_FILES';

/** The change is over a limit: nothing of it was delivered. */
export class ChangeTooLargeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChangeTooLargeError';
  }
}

/**
 * The longest patch text a change within the limits makes, read from the sandbox and no more:
 * a binary file travels deflated in base85 (about 1.3 times its size when it does not compress)
 * and a changed binary carries its old content too; a text file is its lines with a prefix each;
 * every file adds a header of a few hundred bytes.
 */
export function maxPatchBytes(limits: ChangeLimits): number {
  return 3 * limits.maxBytes + 1024 * limits.maxFiles;
}

export function formatBytes(count: number): string {
  return bytes.format(count, { unitSeparator: ' ' }) ?? `${count} bytes`;
}

/**
 * A path from the sandbox, fit for a message: cut short, and quoted when it holds anything that
 * could pass for message text (control characters, quotes).
 */
export function shownPath(path: string): string {
  const cut = path.length > 200 ? `${path.slice(0, 200)}…` : path;
  return /[\x00-\x1f\x7f"'`\\]|^\s|\s$/.test(cut) ? JSON.stringify(cut) : cut;
}

/** What to do about a change over a limit. */
export function raiseHint(setting: string): string {
  return `keep generated files, data and binaries out of the repository (ask the agent for a smaller change), or raise ${setting}`;
}
