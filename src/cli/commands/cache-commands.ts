import { formatCacheTable, formatPruneResult } from '../format-cache-table.js';
import { absoluteRepoPath } from '../repo-argument.js';
import type { CommandContext } from './command-context.js';

/** `telecoder cache list`: each repository's git mirror and dependency cache, with sizes. */
export async function cacheListCommand(context: CommandContext, options: { json?: boolean }): Promise<number> {
  const caches = await context.client.listCaches();
  if (options.json) context.out(JSON.stringify(caches, null, 2));
  else if (caches.length === 0) context.out("No repository caches yet: a repository's first session makes them");
  else context.out(formatCacheTable(caches));
  return 0;
}

/**
 * `telecoder cache prune [--repo <repo>...]`: frees the caches of those repositories (of every
 * repository without --repo). Exits 1 when any repository's caches were kept (a session on it is
 * running, or removing failed), so scripts notice.
 */
export async function cachePruneCommand(context: CommandContext, options: { repo?: string[]; json?: boolean }): Promise<number> {
  const cwd = context.io.cwd ?? process.cwd();
  const repos = options.repo && options.repo.length > 0 ? options.repo.map((repo) => absoluteRepoPath(repo, cwd)) : undefined;
  const result = await context.client.pruneCaches(repos);
  if (options.json) context.out(JSON.stringify(result, null, 2));
  else for (const line of formatPruneResult(result, repos)) context.out(line);
  if (result.kept.length === 0) return 0;
  const count = result.kept.length;
  context.err(`the caches of ${count} ${count === 1 ? 'repository were' : 'repositories were'} kept (see why above)`);
  return 1;
}
