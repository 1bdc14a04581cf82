import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { RepoMirrors } from '../git/repo-mirrors.js';
import type { Logger } from '../logger.js';
import type { Runtime } from '../sandbox/runtime.js';

/** What TeleCoder keeps for one repository between its sessions. */
export interface RepositoryCache {
  repo: string;
  /** The bare git mirror on the server. */
  mirror: { path: string; bytes: number; updatedAt: string } | null;
  /** The dependency cache volume. */
  dependencies: { name: string; bytes: number | null } | null;
}

export interface RepositoryCachesOptions {
  mirrors: RepoMirrors;
  runtime: Runtime;
  /** Where sessions' private clones live. */
  workspacesDir: string;
  logger: Logger;
}

/**
 * The per-repository caches (git mirrors and dependency volumes) as one thing people can list and
 * free, and the start-up sweep of what sessions left behind.
 */
export class RepositoryCaches {
  readonly #options: RepositoryCachesOptions;

  constructor(options: RepositoryCachesOptions) {
    this.#options = options;
  }

  async list(): Promise<RepositoryCache[]> {
    const [mirrors, volumes] = await Promise.all([this.#options.mirrors.list(), this.#options.runtime.listCaches()]);
    const byRepo = new Map<string, RepositoryCache>();
    const entry = (repo: string) => {
      let found = byRepo.get(repo);
      if (!found) byRepo.set(repo, (found = { repo, mirror: null, dependencies: null }));
      return found;
    };
    for (const mirror of mirrors) entry(mirror.repo).mirror = { path: mirror.path, bytes: mirror.bytes, updatedAt: mirror.updatedAt };
    for (const volume of volumes) entry(volume.repo).dependencies = { name: volume.name, bytes: volume.bytes };
    return [...byRepo.values()].sort((a, b) => a.repo.localeCompare(b.repo));
  }

  /**
   * Frees the caches of `repos` (all repositories when omitted), skipping those `busy` says are
   * in use. Returns what was freed and what was not, with the reason.
   */
  async prune(options: { repos?: readonly string[]; busy: (repo: string) => boolean }): Promise<{ pruned: string[]; kept: Array<{ repo: string; reason: string }> }> {
    const known = await this.list();
    const asked = options.repos ? new Set(options.repos.map(repoKey)) : undefined;
    const wanted = asked ? known.filter((cache) => asked.has(repoKey(cache.repo))) : known;
    const pruned: string[] = [];
    const kept: Array<{ repo: string; reason: string }> = [];
    for (const cache of wanted) {
      if (options.busy(cache.repo)) {
        kept.push({ repo: cache.repo, reason: 'a session on it is running; prune it when that session has ended' });
        continue;
      }
      try {
        if (cache.mirror) await this.#options.mirrors.removeAt(cache.mirror.path);
        if (cache.dependencies) await this.#options.runtime.removeCache(cache.repo);
        pruned.push(cache.repo);
      } catch (error) {
        kept.push({ repo: cache.repo, reason: error instanceof Error ? error.message : String(error) });
      }
    }
    return { pruned, kept };
  }

  /**
   * At start-up, when no session runs: removes every session's private clone (a crash leaves them
   * behind), mirrors a crash left half-made, and the caches of repositories no stored session
   * names any more.
   */
  async sweep(knownRepos: ReadonlySet<string>): Promise<void> {
    const { workspacesDir, logger } = this.#options;
    for (const name of await readdir(workspacesDir).catch(() => [] as string[])) {
      await rm(join(workspacesDir, name), { recursive: true, force: true, maxRetries: 3 }).catch((error: unknown) =>
        logger.warn({ err: error, clone: name }, 'could not remove a stale session clone'),
      );
    }
    // A mirror a crash left half-made is not listed as a cache, so pruning would never free it.
    await this.#options.mirrors.removeUnfinished().catch((error: unknown) =>
      logger.warn({ err: error }, 'could not remove unfinished mirrors'),
    );
    const known = new Set([...knownRepos].map(repoKey));
    const orphaned = (await this.list()).filter((cache) => !known.has(repoKey(cache.repo))).map((cache) => cache.repo);
    if (orphaned.length === 0) return;
    const { kept } = await this.prune({ repos: orphaned, busy: () => false });
    for (const { repo, reason } of kept) logger.warn({ repo, reason }, 'could not remove the caches of a repository with no sessions');
  }
}

/**
 * A repository as sessions name it and as providers normalize it, made comparable: GitHub names
 * are case-insensitive, local paths may come as file:// URLs or with a trailing slash. When in
 * doubt two names count as the same, so a sweep never frees a cache that is still wanted.
 */
export function repoKey(repo: string): string {
  let key = repo.trim();
  if (key.startsWith('file://')) key = decodeURIComponent(key.slice('file://'.length));
  key = key.replace(/\/+$/, '').replace(/\.git$/, '');
  return key.startsWith('/') ? key : key.toLowerCase();
}
