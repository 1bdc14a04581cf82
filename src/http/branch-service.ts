import type { BranchPruneResult, PruneBranchesOptions } from '../engine/prune-branches.js';

export type { BranchPruneResult, PruneBranchesOptions };

/**
 * A repository's TeleCoder branches as the HTTP API reaches them (`POST /api/repos/prune`). The
 * Engine is one; a server without it passes none and the route answers 501.
 */
export interface BranchService {
  pruneBranches(repo: string, options?: PruneBranchesOptions): Promise<BranchPruneResult>;
}

/** The answer of `POST /api/repos/prune`, as the CLI reads it. */
export interface BranchPruneJson {
  repo: string;
  default_branch: string;
  dry_run: boolean;
  removed: Array<{ branch: string; commit: string; reason: string }>;
  kept: Array<{ branch: string; commit: string; reason: string }>;
  failed: Array<{ branch: string; commit: string; reason: string }>;
}

export function branchPruneToJson(result: BranchPruneResult): BranchPruneJson {
  const entries = (list: BranchPruneResult['removed']) => list.map(({ branch, commit, reason }) => ({ branch, commit, reason }));
  return {
    repo: result.repo,
    default_branch: result.defaultBranch,
    dry_run: result.dryRun,
    removed: entries(result.removed),
    kept: entries(result.kept),
    failed: entries(result.failed),
  };
}
