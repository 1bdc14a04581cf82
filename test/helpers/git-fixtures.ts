import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const GIT_ENV = {
  ...process.env,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 'Fixture',
  GIT_AUTHOR_EMAIL: 'fixture@example.com',
  GIT_COMMITTER_NAME: 'Fixture',
  GIT_COMMITTER_EMAIL: 'fixture@example.com',
};

export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8' }).trim();
}

/** A working repository with the given files committed on `branch`. */
export function makeRepo(dir: string, files: Record<string, string>, branch = 'main'): string {
  mkdirSync(dir, { recursive: true });
  git(dir, 'init', '-q', '-b', branch);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'initial');
  return dir;
}

/** A bare repository at `bareDir` holding `files` on `branch` (its default branch). */
export function makeBareRemote(bareDir: string, files: Record<string, string>, branch = 'main'): string {
  const work = `${bareDir}.work`;
  makeRepo(work, files, branch);
  mkdirSync(join(bareDir, '..'), { recursive: true });
  execFileSync('git', ['clone', '-q', '--bare', work, bareDir], { env: GIT_ENV });
  return bareDir;
}
