import type { BranchPruneJson } from '../../http/branch-service.js';
import { resolveRepoArgument } from '../repo-argument.js';
import type { CommandContext } from './command-context.js';

export interface PruneOptions {
  repo: string;
  dryRun?: boolean;
  includeDelivered?: boolean;
  json?: boolean;
}

/**
 * `telecoder prune --repo PATH`: removes the local repository's merged or abandoned telecoder/*
 * branches and says, branch by branch, what it removed and what it kept and why. Exits 1 only
 * when a branch it meant to remove could not be; keeping a delivered branch is not a failure.
 */
export async function pruneCommand(context: CommandContext, options: PruneOptions): Promise<number> {
  const repo = resolveRepoArgument(options.repo, context.io.cwd ?? process.cwd());
  const result = await context.client.pruneBranches({
    repo,
    ...(options.dryRun ? { dryRun: true } : {}),
    ...(options.includeDelivered ? { includeDelivered: true } : {}),
  });
  if (options.json) context.out(JSON.stringify(result, null, 2));
  else for (const line of formatBranchPrune(result)) context.out(line);
  if (result.failed.length === 0) return 0;
  const count = result.failed.length;
  context.err(`${count} ${count === 1 ? 'branch' : 'branches'} could not be removed (see why above)`);
  return 1;
}

export function formatBranchPrune(result: BranchPruneJson): string[] {
  const total = result.removed.length + result.kept.length + result.failed.length;
  if (total === 0) return [`No TeleCoder branches in ${result.repo}`];
  const removeVerb = result.dry_run ? 'Would remove' : 'Removed';
  const lines = [
    ...result.removed.map((entry) => `${removeVerb} ${entry.branch} (${short(entry.commit)}): ${entry.reason}`),
    ...result.failed.map((entry) => `Could not remove ${entry.branch} (${short(entry.commit)}): ${entry.reason}`),
    ...result.kept.map((entry) => `Kept ${entry.branch} (${short(entry.commit)}): ${entry.reason}`),
  ];
  const plural = (count: number) => `${count} ${count === 1 ? 'branch' : 'branches'}`;
  lines.push(
    `${result.dry_run ? 'Dry run: would remove' : 'Removed'} ${plural(result.removed.length)} of ${result.repo}, kept ${plural(result.kept.length)}` +
      (result.failed.length > 0 ? `, ${result.failed.length} could not be removed` : '') +
      (result.dry_run && result.removed.length > 0 ? '; run again without --dry-run to remove them' : ''),
  );
  return lines;
}

function short(commit: string): string {
  return commit.slice(0, 7);
}
