import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { UsageError } from './cli-io.js';

const TRAILING_REPO = /\s+--repo(?:=|\s+)(\S+)\s*$/;

/** Parity with the original: "fix the login bug --repo owner/name" names the repository. */
export function splitTrailingRepo(prompt: string): { prompt: string; repo: string | undefined } {
  const match = TRAILING_REPO.exec(prompt);
  if (!match) return { prompt: prompt.trim(), repo: undefined };
  return { prompt: prompt.slice(0, match.index).trim(), repo: match[1] };
}

/**
 * A repository given as a path (starting with `.`, `/` or `~`) must exist here and is sent as an
 * absolute path, since the server resolves nothing against the CLI's directory. Anything else
 * (owner/name, file:// URLs) is sent as typed.
 */
export function resolveRepoArgument(repo: string, cwd: string): string {
  if (!/^[./~]/.test(repo)) return repo;
  const expanded = repo === '~' || repo.startsWith('~/') ? `${homedir()}${repo.slice(1)}` : repo;
  const absolute = resolve(cwd, expanded);
  if (!existsSync(absolute)) {
    throw new UsageError(`--repo ${repo}: no such directory (${absolute}); give an existing local repository or owner/name`);
  }
  return absolute;
}
