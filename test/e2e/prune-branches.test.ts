/**
 * `telecoder prune --repo PATH` against the real server: real git repositories, the real SQLite
 * store holding sessions in each state, the engine deciding, the CLI printing what it said.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { SessionStatus } from '../../src/model/session.js';
import { useAppHarness } from '../helpers/app-harness.js';
import { runCliInProcess } from '../helpers/cli-in-process.js';
import { git } from '../helpers/git-fixtures.js';

describe('telecoder prune removes merged and abandoned TeleCoder branches of a local repository', () => {
  const harness = useAppHarness('prune');

  const cli = (...args: string[]) => runCliInProcess({ server: harness.url, cwd: harness.dir() }, ...args);

  /** A commit on a new branch made from `from`, the way a session's push leaves one. */
  function branchWithCommit(repo: string, branch: string, from = 'main') {
    git(repo, 'branch', branch, from);
    git(repo, 'checkout', '-q', branch);
    writeFileSync(join(repo, `${branch.replace('/', '-')}.txt`), `${branch}\n`);
    git(repo, 'add', '-A');
    git(repo, 'commit', '-q', '-m', `work on ${branch}`);
    git(repo, 'checkout', '-q', 'main');
  }

  function session(id: string, repo: string, status: SessionStatus) {
    const store = harness.app.store;
    store.createSession({ id, repo, prompt: 'work', mode: 'task', branch: `telecoder/${id}`, agent: 'builtin', model: null, origin: { kind: 'api' } });
    if (status !== 'pending') store.updateSession(id, { status });
  }

  const branches = (repo: string) => git(repo, 'branch', '--format=%(refname:short)').split('\n').sort();

  /** One repository with a TeleCoder branch in every state prune must tell apart. */
  async function setUp() {
    const repo = harness.localRepo({ 'README.md': '# Project\n' });
    await harness.start({ script: [] });
    branchWithCommit(repo, 'telecoder/merged1');
    git(repo, 'merge', '-q', '--no-ff', '-m', 'merge it', 'telecoder/merged1');
    session('merged1', repo, 'complete');
    branchWithCommit(repo, 'telecoder/failed1');
    session('failed1', repo, 'error');
    branchWithCommit(repo, 'telecoder/stopped1');
    session('stopped1', `file://${repo}/`, 'stopped');
    branchWithCommit(repo, 'telecoder/orphan1');
    branchWithCommit(repo, 'telecoder/elsewhere1');
    session('elsewhere1', '/somewhere/else', 'complete');
    // Merged, but a session is still on it: running wins.
    git(repo, 'branch', 'telecoder/running1', 'main');
    session('running1', repo, 'running');
    branchWithCommit(repo, 'telecoder/delivered1');
    session('delivered1', repo, 'complete');
    branchWithCommit(repo, 'feature/mine');
    return repo;
  }

  it('dry run says what it would remove and why, and removes nothing; then prune removes exactly that', async () => {
    const repo = await setUp();
    const before = branches(repo);

    const dry = await cli('prune', '--repo', './project', '--dry-run');
    expect(dry.stderr).toBe('');
    expect(dry.code).toBe(0);
    const lines = dry.stdout.trim().split('\n');
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^Would remove telecoder\/merged1 \([0-9a-f]{7}\): merged into main$/),
        expect.stringMatching(/^Would remove telecoder\/failed1 \(.*\): abandoned: session failed1 ended error$/),
        expect.stringMatching(/^Would remove telecoder\/stopped1 \(.*\): abandoned: session stopped1 ended stopped$/),
        expect.stringMatching(/^Would remove telecoder\/orphan1 \(.*\): abandoned: no session in this server's store names it$/),
        expect.stringMatching(/^Would remove telecoder\/elsewhere1 \(.*\): abandoned: no session in this server's store names it$/),
        expect.stringMatching(/^Kept telecoder\/running1 \(.*\): session running1 is running on it$/),
        expect.stringMatching(/^Kept telecoder\/delivered1 \(.*\): delivered by session delivered1 and not merged into main; .*--include-delivered/),
        'Dry run: would remove 5 branches of ' + repo + ', kept 2 branches; run again without --dry-run to remove them',
      ]),
    );
    expect(lines).toHaveLength(8);
    expect(branches(repo)).toEqual(before);

    const pruned = await cli('prune', '--repo', repo, '--json');
    expect(pruned.code).toBe(0);
    const result = JSON.parse(pruned.stdout) as { dry_run: boolean; default_branch: string; removed: { branch: string }[]; kept: { branch: string }[]; failed: unknown[] };
    expect(result.dry_run).toBe(false);
    expect(result.default_branch).toBe('main');
    expect(result.removed.map((entry) => entry.branch).sort()).toEqual([
      'telecoder/elsewhere1',
      'telecoder/failed1',
      'telecoder/merged1',
      'telecoder/orphan1',
      'telecoder/stopped1',
    ]);
    expect(result.kept.map((entry) => entry.branch).sort()).toEqual(['telecoder/delivered1', 'telecoder/running1']);
    expect(result.failed).toEqual([]);
    expect(branches(repo)).toEqual(['feature/mine', 'main', 'telecoder/delivered1', 'telecoder/running1']);

    // Asked for, a delivered branch goes too; the running one never does.
    const all = await cli('prune', '--repo', repo, '--include-delivered');
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/^Removed telecoder\/delivered1 \(.*\): delivered by session delivered1, not merged \(removed as asked\)$/m);
    expect(branches(repo)).toEqual(['feature/mine', 'main', 'telecoder/running1']);

    const nothing = await cli('prune', '--repo', repo);
    expect(nothing.stdout).toMatch(/^Kept telecoder\/running1/m);
    expect(nothing.stdout).toMatch(/Removed 0 branches of .*, kept 1 branch$/m);
  });

  it('a branch checked out in a worktree is reported as not removed, and the CLI exits 1', async () => {
    const repo = harness.localRepo({ 'README.md': '# Project\n' });
    await harness.start({ script: [] });
    branchWithCommit(repo, 'telecoder/busy1');
    session('busy1', repo, 'error');
    execFileSync('git', ['worktree', 'add', '-q', join(harness.dir(), 'worktree'), 'telecoder/busy1'], { cwd: repo });
    const run = await cli('prune', '--repo', repo);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^Could not remove telecoder\/busy1 \(.*\): abandoned: session busy1 ended error, but the repository refused to delete it \(.*checked out.*\)$/m);
    expect(run.stderr).toMatch(/1 branch could not be removed/);
    expect(branches(repo)).toContain('telecoder/busy1');
  });

  it('refuses GitHub repositories, paths that are no repository, and local repositories when they are off', async () => {
    await harness.start({ script: [], env: { TELECODER_ALLOW_LOCAL_REPOS: 'false' } });
    const github = await cli('prune', '--repo', 'https://github.com/acme/widgets');
    expect(github.code).toBe(1);
    expect(github.stderr).toMatch(/^telecoder: pruning branches works on local repositories only, and acme\/widgets is not one; on GitHub, turn on .*Automatically delete head branches/);
    const off = await cli('prune', '--repo', harness.dir());
    expect(off.stderr).toMatch(/local repositories are disabled on this server \(TELECODER_ALLOW_LOCAL_REPOS=false\)/);
    await harness.stop();

    await harness.start({});
    const plain = await cli('prune', '--repo', harness.dir());
    expect(plain.code).toBe(1);
    expect(plain.stderr).toMatch(/is not a git repository/);
    const typo = await fetch(`${harness.url}/api/repos/prune`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ repo: harness.dir(), dryrun: true }),
    });
    expect(typo.status).toBe(400);
    expect(((await typo.json()) as { error: string }).error).toMatch(/unknown field "dryrun"/);
  });
});
