import type { RepositoryCache } from '../../src/engine/repository-caches.js';
import type { CacheService } from '../../src/http/cache-service.js';

/** Stands in for the engine's caches: prunes what is not busy, and records what it was asked. */
export class FakeCacheService implements CacheService {
  caches: RepositoryCache[];
  readonly busy = new Set<string>();
  readonly pruneCalls: Array<readonly string[] | undefined> = [];

  constructor(caches: RepositoryCache[]) {
    this.caches = caches;
  }

  async listCaches(): Promise<RepositoryCache[]> {
    return structuredClone(this.caches);
  }

  async pruneCaches(repos?: readonly string[]) {
    this.pruneCalls.push(repos);
    const wanted = repos ? this.caches.filter((cache) => repos.includes(cache.repo)) : this.caches;
    const pruned: string[] = [];
    const kept: Array<{ repo: string; reason: string }> = [];
    for (const cache of wanted) {
      if (this.busy.has(cache.repo)) kept.push({ repo: cache.repo, reason: 'a session on it is running; prune it when that session has ended' });
      else pruned.push(cache.repo);
    }
    this.caches = this.caches.filter((cache) => !pruned.includes(cache.repo));
    return { pruned, kept };
  }
}
