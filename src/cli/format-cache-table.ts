import bytes from 'bytes';
import type { CachePruneJson, RepositoryCacheJson } from './api-client.js';

/** 1.5 MB; '?' when the size is not known (Docker does not always say). */
export function formatSize(value: number | null): string {
  if (value === null) return '?';
  return bytes(value, { unitSeparator: ' ', decimalPlaces: 1 }) ?? '?';
}

/** An ISO time as `2025-01-31 14:05 UTC`; '-' when there is none. */
function formatTime(iso: string): string {
  const time = Date.parse(iso);
  if (Number.isNaN(time)) return '-';
  return `${new Date(time).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/**
 * `telecoder cache list`: REPO, MIRROR (size), DEPENDENCIES (size), UPDATED (when the mirror was
 * last fetched into), in aligned columns; '-' where a repository has no such cache.
 */
export function formatCacheTable(caches: RepositoryCacheJson[]): string {
  const rows = [
    ['REPO', 'MIRROR', 'DEPENDENCIES', 'UPDATED'],
    ...caches.map((cache) => [
      cache.repo,
      cache.mirror ? formatSize(cache.mirror.bytes) : '-',
      cache.dependencies ? formatSize(cache.dependencies.bytes) : '-',
      cache.mirror ? formatTime(cache.mirror.updated_at) : '-',
    ]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  // Sizes are right-aligned so they can be compared at a glance.
  const rightAligned = new Set([1, 2]);
  return rows
    .map((row, index) =>
      row
        .map((cell, column) => {
          if (column === row.length - 1) return cell;
          return index > 0 && rightAligned.has(column) ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!);
        })
        .join('  '),
    )
    .join('\n');
}

/**
 * `telecoder cache prune`: one line per repository, pruned first, then kept with the reason, then
 * requested repositories that had no caches at all.
 */
export function formatPruneResult(result: CachePruneJson, requested: readonly string[] | undefined): string[] {
  const lines = [
    ...result.pruned.map((repo) => `Pruned ${repo}`),
    ...result.kept.map(({ repo, reason }) => `Kept ${repo}: ${reason}`),
  ];
  const answered = new Set([...result.pruned, ...result.kept.map(({ repo }) => repo)]);
  for (const repo of requested ?? []) {
    if (!answered.has(repo)) lines.push(`No caches for ${repo}; \`telecoder cache list\` shows the repositories that have some`);
  }
  if (lines.length === 0) lines.push('No repository caches to prune');
  return lines;
}
