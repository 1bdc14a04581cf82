import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { githubRepoName } from '../gitprovider/github-repo-name.js';
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
 * (owner/name, file:// URLs) is sent as typed, but for a github.com URL, sent as owner/name.
 */
export function resolveRepoArgument(repo: string, cwd: string): string {
  // A pasted github.com URL is sent as the owner/name it names, as the server would read it.
  if (!/^[./~]/.test(repo)) return githubRepoName(repo);
  const absolute = absoluteRepoPath(repo, cwd);
  if (!existsSync(absolute)) {
    throw new UsageError(`--repo ${repo}: no such directory (${absolute}); give an existing local repository or owner/name`);
  }
  return absolute;
}

/**
 * Like resolveRepoArgument, but the path need not exist any more: what names a repository's
 * caches (`telecoder cache prune --repo ./gone`) may outlive its checkout.
 */
export function absoluteRepoPath(repo: string, cwd: string): string {
  if (repo.startsWith('file://')) {
    try {
      return resolve(fileURLToPath(repo));
    } catch {
      return repo;
    }
  }
  if (!/^[./~]/.test(repo)) return repo;
  const expanded = repo === '~' || repo.startsWith('~/') ? `${homedir()}${repo.slice(1)}` : repo;
  return resolve(cwd, expanded);
}
