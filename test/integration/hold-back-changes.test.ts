import { mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { holdBackChanges } from '../../src/git/hold-back-changes.js';
import { git, makeRepo } from '../helpers/git-fixtures.js';

describe('holdBackChanges: workflow changes are taken out of the staged change with real git', () => {
  let tmp: string | undefined;
  afterEach(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    tmp = undefined;
  });

  function write(repo: string, path: string, content: string | Buffer) {
    mkdirSync(join(repo, path, '..'), { recursive: true });
    writeFileSync(join(repo, path), content);
  }

  it('restores held-back paths to the base in the index, keeps the rest, and returns each file with its content', async () => {
    tmp = mkdtempSync(join(tmpdir(), 'telecoder-hold-back-'));
    const repo = makeRepo(join(tmp, 'repo'), {
      'README.md': '# Widgets\n',
      '.github/workflows/old.yml': 'name: old\n',
      '.github/actions/setup/action.yml': 'name: setup\n',
      '.github/CODEOWNERS': '* @acme/owners\n',
    });
    const base = git(repo, 'rev-parse', 'HEAD');
    write(repo, 'README.md', '# Widgets\n\nMore.\n');
    write(repo, 'src/a.js', 'export const a = 1;\n');
    write(repo, '.github/CODEOWNERS', '* @acme/everyone\n');
    write(repo, 'docs/.github/workflows/example.yml', 'not a workflow\n');
    write(repo, '.github/workflows/ci.yml', 'on: push\njobs: {}\n');
    write(repo, '.GitHub/Workflows/Shout.yml', 'on: push\n');
    write(repo, '.github/actions/setup/action.yml', 'name: setup\nruns: { using: node20 }\n');
    write(repo, '.github/workflows/blob.bin', Buffer.from([0, 1, 2, 3]));
    write(repo, '.github/workflows/huge.yml', 'x'.repeat(20_000));
    symlinkSync('../../README.md', join(repo, '.github/workflows/link.yml'));
    unlinkSync(join(repo, '.github/workflows/old.yml'));
    git(repo, 'add', '-A');

    const held = await holdBackChanges({ dir: repo, baseSha: base });

    expect(held.map((file) => [file.path, file.change]).sort()).toEqual(
      [
        ['.GitHub/Workflows/Shout.yml', 'added'],
        ['.github/actions/setup/action.yml', 'modified'],
        ['.github/workflows/blob.bin', 'added'],
        ['.github/workflows/ci.yml', 'added'],
        ['.github/workflows/huge.yml', 'added'],
        ['.github/workflows/link.yml', 'added'],
        ['.github/workflows/old.yml', 'deleted'],
      ].sort(),
    );
    const byPath = new Map(held.map((file) => [file.path, file]));
    expect(byPath.get('.github/workflows/ci.yml')!.content).toBe('on: push\njobs: {}\n');
    expect(byPath.get('.github/actions/setup/action.yml')!.content).toBe('name: setup\nruns: { using: node20 }\n');
    expect(byPath.get('.github/workflows/blob.bin')!.omitted).toBe('binary');
    expect(byPath.get('.github/workflows/huge.yml')!.omitted).toBe('too large');
    expect(byPath.get('.github/workflows/link.yml')).toMatchObject({ symlink: true, content: '../../README.md' });
    expect(byPath.get('.github/workflows/old.yml')!.content).toBeUndefined();

    // What a commit would now carry: only the paths that are not held back.
    expect(git(repo, 'diff', '--cached', '--name-only', '--no-renames', base).split('\n').sort()).toEqual(
      ['.github/CODEOWNERS', 'README.md', 'docs/.github/workflows/example.yml', 'src/a.js'].sort(),
    );
    // The deleted workflow is back as the base had it, the modified action too.
    expect(git(repo, 'show', ':.github/workflows/old.yml')).toBe('name: old');
    expect(git(repo, 'show', ':.github/actions/setup/action.yml')).toBe('name: setup');
  });

  it('changes nothing when no held-back path changed', async () => {
    tmp = mkdtempSync(join(tmpdir(), 'telecoder-hold-back-'));
    const repo = makeRepo(join(tmp, 'repo'), { 'README.md': '# Widgets\n', '.github/workflows/ci.yml': 'on: push\n' });
    const base = git(repo, 'rev-parse', 'HEAD');
    write(repo, 'README.md', '# Changed\n');
    git(repo, 'add', '-A');
    expect(await holdBackChanges({ dir: repo, baseSha: base })).toEqual([]);
    expect(git(repo, 'diff', '--cached', '--name-only', base)).toBe('README.md');
  });
});
