import { stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { TeleCoderError } from '../errors.js';
import { GitError, runGit } from '../git/run-git.js';
import type { GitProvider, PullRequestRef, RepoAccess } from './provider.js';

export interface LocalRepoProviderOptions {
  /** Per git command. */
  timeoutMs?: number;
}

/** How long a path's answer is reused, and for how many paths. */
const RECENT_ACCESS_MS = 5_000;
const RECENT_ACCESS_KEPT = 16;

/**
 * Repositories on the server's own disk (an absolute path or a file:// URL), bare or not. The
 * work is pushed to a branch there; there is no pull request to open.
 */
export class LocalRepoProvider implements GitProvider {
  readonly name = 'local';
  readonly #timeoutMs: number | undefined;
  /** What a path answered moments ago: a session's start asks right after its request was checked. */
  readonly #recent = new Map<string, { at: number; access: RepoAccess }>();

  constructor(options: LocalRepoProviderOptions = {}) {
    this.#timeoutMs = options.timeoutMs;
  }

  handles(repo: string): boolean {
    return repo.startsWith('file://') || isAbsolute(repo);
  }

  /** The same questions a session's clone asks, so a path that is no repository is refused before a session exists. */
  async check(repo: string, signal?: AbortSignal): Promise<void> {
    await this.access(repo, signal);
  }

  async access(repo: string, signal?: AbortSignal): Promise<RepoAccess> {
    const path = this.#pathOf(repo);
    const recent = this.#recent.get(path);
    if (recent && Date.now() - recent.at < RECENT_ACCESS_MS) return recent.access;
    const access = await this.#ask(path, signal);
    this.#recent.delete(path);
    this.#recent.set(path, { at: Date.now(), access });
    // Only the last few paths: each entry is a few strings.
    for (const old of [...this.#recent.keys()].slice(0, Math.max(0, this.#recent.size - RECENT_ACCESS_KEPT))) this.#recent.delete(old);
    return access;
  }

  async #ask(path: string, signal?: AbortSignal): Promise<RepoAccess> {
    const info = await stat(path).catch(() => undefined);
    if (!info?.isDirectory()) {
      throw new TeleCoderError(`local repository ${path} does not exist or is not a directory; give the absolute path of a git repository`);
    }
    // Asked the way a clone will ask (upload-pack over file://) rather than by running git inside
    // the repository, so the repository's own config gets no chance to run anything here.
    const cloneUrl = pathToFileURL(path).href;
    let listed: string;
    try {
      listed = (await runGit(['ls-remote', '--symref', '--', cloneUrl, 'HEAD'], { timeoutMs: this.#timeoutMs, signal })).stdout;
    } catch (error) {
      const detail = error instanceof GitError ? error.stderr.split('\n')[0] : String(error);
      throw new TeleCoderError(
        `${path} is not a git repository (${detail}); give the path of a repository's working tree or of a bare repository`,
      );
    }
    const symref = /^ref: refs\/heads\/(\S+)\tHEAD$/m.exec(listed);
    if (!/^[0-9a-f]{40,64}\tHEAD$/m.test(listed)) {
      throw new TeleCoderError(`local repository ${path} has no commits on its HEAD branch; commit something first`);
    }
    return {
      repo: path,
      cloneUrl,
      gitEnv: {},
      ...(symref?.[1] ? { defaultBranch: symref[1] } : {}),
    };
  }

  async openPullRequest(): Promise<PullRequestRef | null> {
    return null;
  }

  #pathOf(repo: string): string {
    if (!this.handles(repo)) throw new TeleCoderError(`"${repo}" is not a local repository; give an absolute path or a file:// URL`);
    let path: string;
    try {
      path = repo.startsWith('file://') ? fileURLToPath(repo) : repo;
    } catch {
      throw new TeleCoderError(`"${repo}" is not a valid file:// URL; give an absolute path such as /srv/repos/app`);
    }
    const resolved = resolve(path);
    return resolved.length > 1 ? resolved.replace(/\/+$/, '') : resolved;
  }
}
