import type { RepositoryCache } from '../engine/repository-caches.js';

export type { RepositoryCache };

/** What a prune did: the repositories whose caches were freed, and those kept with the reason. */
export interface CachePruneResult {
  pruned: string[];
  kept: Array<{ repo: string; reason: string }>;
}

/**
 * The per-repository caches (git mirrors and dependency volumes) as the HTTP API reaches them.
 * The Engine is one; a server without caches passes none and the cache routes answer 501.
 */
export interface CacheService {
  listCaches(): Promise<RepositoryCache[]>;
  /** Frees the caches of these repositories (all when omitted); those in use are kept. */
  pruneCaches(repos?: readonly string[]): Promise<CachePruneResult>;
}
