/**
 * pruneBranches with real git repositories: a deletion names the commit the branch was judged
 * at, so a branch that moves meanwhile (a session pushing to it) is left alone.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { pruneBranches } from '../../src/engine/prune-branches.js';
import { git, makeRepo } from '../helpers/git-fixtures.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function repoWithBranch(branch: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'telecoder-prune-it-'));
  dirs.push(dir);
  const repo = makeRepo(join(dir, 'repo'), { 'README.md': '# hi\n' });
  git(repo, 'branch', branch);
  return repo;
}

function commitOn(repo: string, branch: string) {
  git(repo, 'checkout', '-q', branch);
  writeFileSync(join(repo, 'late.txt'), 'pushed while pruning\n');
  git(repo, 'add', '-A');
  git(repo, 'commit', '-q', '-m', 'late work');
  git(repo, 'checkout', '-q', 'main');
}

describe('pruneBranches', () => {
  it('leaves a branch that moved after it was judged, and says so', async () => {
    const repo = repoWithBranch('telecoder/late1');
    const access = { repo, cloneUrl: pathToFileURL(repo).href, gitEnv: {}, defaultBranch: 'main' };
    const result = await pruneBranches({
      access,
      // Judged as merged (its tip is main's); a session pushes to it before the deletion.
      sessionOf: (branch) => {
        commitOn(repo, branch);
        return undefined;
      },
    });
    expect(result.removed).toEqual([]);
    expect(result.failed).toHaveLength(1);
    expect(result.failed[0]!.reason).toMatch(/^merged into main, but the repository refused to delete it \(.*stale info.*\)$/);
    expect(git(repo, 'log', '-1', '--format=%s', 'telecoder/late1')).toBe('late work');
  });

  it('names only telecoder/ branches, and a HEAD on one of them is refused with what to do', async () => {
    const repo = repoWithBranch('telecoder/x1');
    git(repo, 'branch', 'telecoderish');
    const access = { repo, cloneUrl: pathToFileURL(repo).href, gitEnv: {}, defaultBranch: 'main' };
    const result = await pruneBranches({ access, sessionOf: () => undefined }, { dryRun: true });
    expect(result.removed.map((entry) => entry.branch)).toEqual(['telecoder/x1']);
    await expect(pruneBranches({ access: { ...access, defaultBranch: 'telecoder/x1' }, sessionOf: () => undefined })).rejects.toThrow(
      /has telecoder\/x1 checked out \(its HEAD\): check out its main branch first/,
    );
  });
});
