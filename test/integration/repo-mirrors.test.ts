import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GitWorkspace } from '../../src/git/git-workspace.js';
import { RepoMirrors } from '../../src/git/repo-mirrors.js';
import { gitCredentialEnv } from '../../src/gitprovider/github-provider.js';
import type { RepoAccess } from '../../src/gitprovider/provider.js';
import { git, makeBareRemote } from '../helpers/git-fixtures.js';
import { startGitHttpServer, type GitHttpServer } from '../helpers/git-http-server.js';

const TOKEN = 'ghs_MIRRORtokenNEVERwritten0123456789abc';

function allFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}

describe('RepoMirrors: one bare mirror per repository, sessions clone from it locally', () => {
  let tmp: string;
  let server: GitHttpServer;
  let access: RepoAccess;
  let mirrors: RepoMirrors;
  let bare: string;

  beforeEach(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'telecoder-mirrors-'));
    bare = makeBareRemote(join(tmp, 'remotes', 'acme', 'widgets.git'), {
      'README.md': '# Widgets\n',
      // Random text, so a clone and a fetch with nothing new are far apart in bytes.
      'data.txt': Array.from({ length: 4000 }, (_, i) => `${i} ${Math.random()}`).join('\n'),
    }, 'trunk');
    server = await startGitHttpServer({ root: join(tmp, 'remotes') });
    access = { repo: 'acme/widgets', cloneUrl: `${server.url}/acme/widgets.git`, gitEnv: gitCredentialEnv(server.url, TOKEN) };
    mirrors = new RepoMirrors({ dir: join(tmp, 'mirrors') });
  });

  afterEach(async () => {
    await server.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  const cloneFrom = (url: string, branch: string, name: string) =>
    GitWorkspace.clone({ access: { ...access, cloneUrl: url, gitEnv: {} }, dir: join(tmp, name), branch: `telecoder/${name}`, baseBranch: branch });

  it('the first session makes the mirror over the network; the next fetches only what changed and clones locally', async () => {
    const first = await mirrors.withBranch(access, undefined, async (mirror) => {
      const ws = await cloneFrom(mirror.url, mirror.branch, 'one');
      return { mirror, sha: ws.baseSha };
    });
    expect(first.mirror).toMatchObject({ branch: 'trunk', created: true });
    expect(first.mirror.url).toBe(`file://${mirrors.pathFor('acme/widgets')}`);
    expect(first.sha).toBe(git(bare, 'rev-parse', 'trunk'));
    const cloneBytes = server.stats().uploadPackBytes;
    expect(cloneBytes).toBeGreaterThan(20_000);
    expect(statSync(mirrors.dir).mode & 0o777).toBe(0o700);

    server.reset();
    const second = await mirrors.withBranch(access, 'trunk', async (mirror) => mirror);
    expect(second.created).toBe(false);
    expect(server.stats().uploadPackBytes).toBeLessThan(cloneBytes / 10);

    // A new commit upstream: the next session sees it, and only it crosses the network.
    const work = `${bare}.work`;
    writeFileSync(join(work, 'CHANGELOG.md'), 'v2\n');
    git(work, 'add', '-A');
    git(work, 'commit', '-q', '-m', 'v2');
    git(work, 'push', '-q', bare, 'trunk');
    server.reset();
    const third = await mirrors.withBranch(access, 'trunk', async (mirror) => (await cloneFrom(mirror.url, mirror.branch, 'three')).baseSha);
    expect(third).toBe(git(bare, 'rev-parse', 'trunk'));
    expect(server.stats().uploadPackBytes).toBeLessThan(cloneBytes / 5);

    const [listed] = await mirrors.list();
    expect(listed).toMatchObject({ repo: 'acme/widgets', path: mirrors.pathFor('acme/widgets') });
    expect(listed!.bytes).toBeGreaterThan(0);
  });

  it('never writes the credential into the mirror', async () => {
    await mirrors.withBranch(access, undefined, async () => undefined);
    for (const file of allFiles(mirrors.dir)) {
      const text = readFileSync(file).toString('latin1');
      expect(text.includes(TOKEN), file).toBe(false);
      expect(text.includes(Buffer.from(`x-access-token:${TOKEN}`).toString('base64')), file).toBe(false);
    }
  });

  it('serializes sessions on one repository', async () => {
    let inside = 0;
    let overlapped = false;
    const use = async () => {
      inside++;
      if (inside > 1) overlapped = true;
      await new Promise((resolve) => setTimeout(resolve, 50));
      inside--;
    };
    await Promise.all([1, 2, 3].map(() => mirrors.withBranch(access, 'trunk', use)));
    expect(overlapped).toBe(false);
  });

  it('makes a broken mirror again instead of failing every session after a crash', async () => {
    await mirrors.withBranch(access, 'trunk', async () => undefined);
    const path = mirrors.pathFor('acme/widgets');
    // What a crash mid-write can leave: a HEAD that is not a ref and no object store.
    writeFileSync(join(path, 'HEAD'), 'garbage\n');
    rmSync(join(path, 'objects'), { recursive: true });
    const again = await mirrors.withBranch(access, 'trunk', async (mirror) => (await cloneFrom(mirror.url, mirror.branch, 'after-crash')).baseSha);
    expect(again).toBe(git(bare, 'rev-parse', 'trunk'));
  });

  it('says which branch is missing, and refuses to remove anything but its own mirrors', async () => {
    await expect(mirrors.withBranch(access, 'no-such-branch', async () => undefined)).rejects.toThrow(
      'acme/widgets has no branch no-such-branch; push it first or name another base branch',
    );
    await expect(mirrors.removeAt(join(tmp, 'remotes'))).rejects.toThrow(/is not a mirror under/);
    await mirrors.withBranch(access, 'trunk', async () => undefined);
    await mirrors.remove('acme/widgets');
    expect(await mirrors.list()).toEqual([]);
  });
});
