/**
 * Where the benchmarks keep what is slow to make (generated repositories, an npm project), keyed
 * by the parameters it was made with, so a rerun finds it instead of making it again.
 * `${BENCH_CACHE_DIR:-$TMPDIR/telecoder-bench-cache}/<key>/`, complete once `.complete` exists.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type Dockerode from 'dockerode';

const execFileAsync = promisify(execFile);

export function benchCacheDir(): string {
  return process.env.BENCH_CACHE_DIR?.trim() || join(tmpdir(), 'telecoder-bench-cache');
}

/**
 * The directory for `key`, made by `build(dir)` into a scratch directory first and renamed into
 * place when it succeeded (a crash never leaves a half-made entry behind). `made` says whether
 * this call built it and how long that took.
 */
export async function cached(
  key: string,
  build: (dir: string) => Promise<void>,
): Promise<{ dir: string; built: boolean; buildMs: number }> {
  const root = benchCacheDir();
  const dir = join(root, key);
  if (existsSync(join(dir, '.complete'))) return { dir, built: false, buildMs: 0 };
  mkdirSync(root, { recursive: true });
  rmSync(dir, { recursive: true, force: true });
  const scratch = join(root, `${key}.tmp-${process.pid}-${Date.now()}`);
  mkdirSync(scratch, { recursive: true });
  const started = performance.now();
  try {
    await build(scratch);
    writeFileSync(join(scratch, '.complete'), `${new Date().toISOString()}\n`);
    renameSync(scratch, dir);
  } catch (error) {
    rmSync(scratch, { recursive: true, force: true });
    throw error;
  }
  return { dir, built: true, buildMs: performance.now() - started };
}

/** git with no user or system configuration and a fixed identity. */
export const BENCH_GIT_ENV: NodeJS.ProcessEnv = {
  ...process.env,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_TERMINAL_PROMPT: '0',
  GIT_AUTHOR_NAME: 'Bench',
  GIT_AUTHOR_EMAIL: 'bench@example.com',
  GIT_COMMITTER_NAME: 'Bench',
  GIT_COMMITTER_EMAIL: 'bench@example.com',
};

/** Runs git asynchronously (servers on this process's event loop must keep answering). */
export async function gitAsync(cwd: string, args: string[], env: NodeJS.ProcessEnv = BENCH_GIT_ENV): Promise<string> {
  const { stdout } = await execFileAsync('git', args, { cwd, env, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' });
  return stdout.trim();
}

/** Bytes on disk under `dir`, as `du -sb` counts them. */
export async function diskBytes(dir: string): Promise<number> {
  const { stdout } = await execFileAsync('du', ['-sb', dir], { encoding: 'utf8' });
  return Number(stdout.split(/\s/)[0]);
}

export function formatBytes(value: number): string {
  if (value < 1024) return `${value} B`;
  if (value < 1024 * 1024) return `${(value / 1024).toFixed(1)} KiB`;
  return `${(value / 1024 / 1024).toFixed(1)} MiB`;
}

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Microseconds to create one empty file in a fresh directory under `parent` (the mean over
 * `files` files). The files are left in place: the caller removes `parent` at the end, because
 * deleting them here would slow the next probe down (see below) and measure the probe itself.
 *
 * On ext4 without a journal (this benchmark's usual VM) creating a file costs ~30× more for about
 * a minute after many files were deleted nearby: the inode allocator looks at each recently
 * deleted inode in turn before it takes one (`recently_deleted`), so one session's deleted
 * 20,000-file clone and sandbox slow the next session's down by seconds.
 */
export function fileCreateMicros(parent: string, files = 500): number {
  const dir = mkdtempSync(join(parent, 'probe-'));
  const started = performance.now();
  for (let i = 0; i < files; i++) writeFileSync(join(dir, `f${i}`), '');
  return ((performance.now() - started) * 1000) / files;
}

/**
 * Removes the Docker volumes a TeleCoder server made for `dataDir` (its repositories' dependency
 * caches, labelled with the data dir's instance label; see src/telecoder.ts). The server keeps
 * them on purpose, so a benchmark that throws its data dir away removes them too.
 */
export async function removeInstanceVolumes(docker: Dockerode, instanceId: string): Promise<string[]> {
  const listed = await docker.listVolumes({ filters: { label: [`telecoder.instance=${instanceId}`] } });
  const removed: string[] = [];
  for (const volume of listed.Volumes ?? []) {
    try {
      await docker.getVolume(volume.Name).remove();
      removed.push(volume.Name);
    } catch (error) {
      console.warn(`could not remove volume ${volume.Name}: ${(error as Error).message}`);
    }
  }
  return removed;
}
