import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GitWorkspace } from '../../src/git/git-workspace.js';
import { LocalRepoProvider } from '../../src/gitprovider/local-provider.js';
import { git, makeBareRemote, makeRepo } from '../helpers/git-fixtures.js';

describe('LocalRepoProvider with real repositories on disk', () => {
  let tmp: string;
  const provider = new LocalRepoProvider();

  beforeEach(() => {
    tmp = mkdtempSync(join(tmpdir(), 'telecoder-local-'));
  });
  afterEach(() => {
    rmSync(tmp, { recursive: true, force: true });
  });

  it('handles absolute paths and file:// URLs only', () => {
    expect(provider.handles('/srv/repos/app')).toBe(true);
    expect(provider.handles('file:///srv/repos/app')).toBe(true);
    expect(provider.handles('acme/widgets')).toBe(false);
    expect(provider.handles('./relative')).toBe(false);
  });

  it('a bare repository: file:// clone URL, no credential, default branch from HEAD; clone and push work, no PR', async () => {
    const bare = makeBareRemote(join(tmp, 'with space', 'app.git'), { 'a.txt': 'a\n' }, 'develop');
    const access = await provider.access(`${bare}/`);
    expect(access).toEqual({ repo: bare, cloneUrl: pathToFileURL(bare).href, gitEnv: {}, defaultBranch: 'develop' });
    expect(await provider.access(pathToFileURL(bare).href)).toEqual(access);

    const ws = await GitWorkspace.clone({ access, dir: join(tmp, 'ws'), branch: 'telecoder/l1' });
    expect(ws.baseBranch).toBe('develop');
    git(ws.dir, 'commit', '-q', '--allow-empty', '-m', 'empty');
    await ws.push({ access, branch: 'telecoder/l1' });
    expect(git(tmp, '--git-dir', bare, 'log', '-1', '--format=%s', 'telecoder/l1')).toBe('empty');
    await expect(ws.push({ access, branch: 'develop' })).rejects.toThrow(/default branch/);
    expect(await provider.openPullRequest()).toBeNull();
  });

  it('a working repository (non-bare) with its own default branch', async () => {
    const work = makeRepo(join(tmp, 'work'), { 'b.txt': 'b\n' }, 'trunk');
    const access = await provider.access(work);
    expect(access).toMatchObject({ repo: work, cloneUrl: pathToFileURL(work).href, gitEnv: {}, defaultBranch: 'trunk' });
  });

  it('a path that is not a repository, or does not exist, or has no commits → a clear error', async () => {
    const plain = join(tmp, 'plain');
    mkdirSync(plain);
    await expect(provider.access(plain)).rejects.toThrow(
      new RegExp(`^${plain} is not a git repository \\(.*\\); give the path of a repository's working tree or of a bare repository$`),
    );
    await expect(provider.access(join(tmp, 'missing'))).rejects.toThrow(/does not exist or is not a directory/);
    const empty = join(tmp, 'empty.git');
    git(tmp, 'init', '-q', '--bare', empty);
    await expect(provider.access(empty)).rejects.toThrow(/has no commits/);
    await expect(provider.access('acme/widgets')).rejects.toThrow(/not a local repository/);
  });
});
