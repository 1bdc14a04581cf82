import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { RepoAccess } from '../gitprovider/provider.js';
import { GitError, runGit } from './run-git.js';

export interface RepoMirrorsOptions {
  /** Where the mirrors live (the data dir's mirrors/); created when missing, mode 0700. */
  dir: string;
  /** Per git command. */
  timeoutMs?: number;
}

export interface MirroredBranch {
  /** file:// URL of the mirror: what a session's private clone is made from. */
  url: string;
  /** The mirror's directory (a bare repository): read objects from it with GIT_DIR while the lock is held. */
  gitDir: string;
  /** The branch fetched into the mirror (the one asked for, or the remote's default). */
  branch: string;
  /** The commit that branch is at in the mirror now. */
  commit: string;
  /** True when the mirror was made by this fetch (the repository's first session here). */
  created: boolean;
}

export interface MirrorInfo {
  repo: string;
  path: string;
  bytes: number;
  updatedAt: string;
}

const META_FILE = 'telecoder-mirror.json';
/** A mirror is made under `<name>.git.new-<pid>-<time>` and then renamed into place. */
const STAGING_SUFFIX = '.new-';

/**
 * One bare git mirror per repository on the server, under the data dir. A session fetches the
 * branch it needs into the mirror (only what changed crosses the network) and clones from it
 * locally. Mirrors are never given to a sandbox, so no agent can write to them. Fetches and
 * clones of one mirror are serialized; different repositories go on in parallel.
 */
export class RepoMirrors {
  readonly dir: string;
  readonly #timeoutMs: number | undefined;
  readonly #locks = new Map<string, Promise<unknown>>();

  constructor(options: RepoMirrorsOptions) {
    this.dir = options.dir;
    this.#timeoutMs = options.timeoutMs;
  }

  /** The mirror's directory for a repository (as the provider normalized it). */
  pathFor(repo: string): string {
    return join(this.dir, `${createHash('sha256').update(repo).digest('hex').slice(0, 24)}.git`);
  }

  /**
   * Runs `use` with the repository's mirror holding the latest `branch` (the remote's default
   * when omitted), under the mirror's lock. A mirror that cannot be fetched into is made again
   * once from scratch (a crash may have left it broken) before the failure is reported.
   */
  async withBranch<T>(
    access: RepoAccess,
    branch: string | undefined,
    use: (mirror: MirroredBranch) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    const path = this.pathFor(access.repo);
    return this.#locked(path, async () => {
      const wanted = branch ?? access.defaultBranch ?? (await this.#remoteDefaultBranch(access, signal));
      let created = false;
      try {
        created = await this.#ensure(path, access.repo);
        await this.#fetch(path, access, wanted, signal);
      } catch (error) {
        if (signal?.aborted || created || isMissingBranch(error)) throw this.#explain(error, access, wanted);
        await rm(path, { recursive: true, force: true, maxRetries: 3 });
        created = await this.#ensure(path, access.repo);
        try {
          await this.#fetch(path, access, wanted, signal);
        } catch (retryError) {
          throw this.#explain(retryError, access, wanted);
        }
      }
      await writeFile(join(path, META_FILE), JSON.stringify({ repo: access.repo, updatedAt: new Date().toISOString() }));
      const commit = (await runGit(['rev-parse', '--verify', `refs/heads/${wanted}^{commit}`], { env: { GIT_DIR: path }, timeoutMs: this.#timeoutMs })).stdout.trim();
      return use({ url: pathToFileURL(path).href, gitDir: path, branch: wanted, commit, created });
    });
  }

  /** Every mirror with the repository it belongs to and its size on disk. */
  async list(): Promise<MirrorInfo[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const mirrors: MirrorInfo[] = [];
    for (const name of names.filter((entry) => entry.endsWith('.git'))) {
      const path = join(this.dir, name);
      const meta = await readFile(join(path, META_FILE), 'utf8').then(JSON.parse).catch(() => undefined) as { repo?: unknown; updatedAt?: unknown } | undefined;
      mirrors.push({
        repo: typeof meta?.repo === 'string' ? meta.repo : '(unknown)',
        path,
        bytes: await sizeOf(path),
        updatedAt: typeof meta?.updatedAt === 'string' ? meta.updatedAt : '',
      });
    }
    return mirrors;
  }

  /**
   * Deletes mirrors that were being made when a process died (staged beside their final name and
   * never renamed into place). Call it only when no mirror is being made, as at start-up.
   */
  async removeUnfinished(): Promise<string[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const unfinished = names.filter((name) => name.includes(`.git${STAGING_SUFFIX}`));
    for (const name of unfinished) await rm(join(this.dir, name), { recursive: true, force: true, maxRetries: 3 });
    return unfinished;
  }

  /** Deletes a repository's mirror (waiting for a fetch under way); the next session fetches again. */
  async remove(repo: string): Promise<void> {
    await this.removeAt(this.pathFor(repo));
  }

  /** Deletes the mirror at a path list() gave, even one whose repository is not recorded. */
  async removeAt(path: string): Promise<void> {
    if (!path.startsWith(`${this.dir}/`) || !path.endsWith('.git')) {
      throw new Error(`${path} is not a mirror under ${this.dir}; give a path that list() returned`);
    }
    await this.#locked(path, () => rm(path, { recursive: true, force: true, maxRetries: 3 }));
  }

  async #locked<T>(key: string, work: () => Promise<T>): Promise<T> {
    const before = this.#locks.get(key) ?? Promise.resolve();
    const run = before.then(work, work);
    const settled = run.catch(() => undefined);
    this.#locks.set(key, settled);
    try {
      return await run;
    } finally {
      if (this.#locks.get(key) === settled) this.#locks.delete(key);
    }
  }

  /** Makes an empty bare repository at `path` unless one is there; true when it made one. */
  async #ensure(path: string, repo: string): Promise<boolean> {
    if (await stat(join(path, 'HEAD')).then(() => true, () => false)) return false;
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await rm(path, { recursive: true, force: true });
    // Made aside and renamed, so a crash never leaves a half-made mirror under the real name.
    const staging = `${path}${STAGING_SUFFIX}${process.pid}-${Date.now()}`;
    await runGit(['init', '--quiet', '--bare', staging], { timeoutMs: this.#timeoutMs });
    await writeFile(join(staging, META_FILE), JSON.stringify({ repo, updatedAt: new Date().toISOString() }));
    await rename(staging, path);
    return true;
  }

  async #fetch(path: string, access: RepoAccess, branch: string, signal: AbortSignal | undefined): Promise<void> {
    // Depth 1: a session needs the tip only. Later fetches send just what changed since.
    await runGit(
      ['fetch', '--quiet', '--no-tags', '--no-write-fetch-head', '--depth=1', '--', access.cloneUrl, `+refs/heads/${branch}:refs/heads/${branch}`],
      { cwd: path, env: { ...access.gitEnv, GIT_DIR: path }, timeoutMs: this.#timeoutMs, signal },
    );
  }

  async #remoteDefaultBranch(access: RepoAccess, signal: AbortSignal | undefined): Promise<string> {
    let listed: string;
    try {
      listed = (await runGit(['ls-remote', '--symref', '--', access.cloneUrl, 'HEAD'], { env: access.gitEnv, timeoutMs: this.#timeoutMs, signal })).stdout;
    } catch (error) {
      throw new Error(`could not clone ${access.repo}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    const branch = /^ref: refs\/heads\/(\S+)\tHEAD$/m.exec(listed)?.[1];
    if (!branch) throw new Error(`${access.repo} has no default branch (its HEAD names none); push an initial commit first`);
    return branch;
  }

  #explain(error: unknown, access: RepoAccess, branch: string): Error {
    if (isMissingBranch(error)) {
      return new Error(`${access.repo} has no branch ${branch}; push it first or name another base branch`, { cause: error });
    }
    const detail = error instanceof Error ? error.message : String(error);
    return new Error(`could not clone ${access.repo}: ${detail}`, { cause: error });
  }
}

function isMissingBranch(error: unknown): boolean {
  return error instanceof GitError && /couldn't find remote ref/i.test(error.stderr);
}

async function sizeOf(path: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(path, { withFileTypes: true, recursive: true }).catch(() => [])) {
    if (!entry.isFile()) continue;
    total += await stat(join(entry.parentPath, entry.name)).then((info) => info.size, () => 0);
  }
  return total;
}
