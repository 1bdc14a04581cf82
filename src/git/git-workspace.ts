import { appendFile, chmod, mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pack } from 'tar-fs';
import type { RepoAccess } from '../gitprovider/provider.js';
import { GitError, runGit } from './run-git.js';
import { isWorkspaceOnlyPath, WORKSPACE_ONLY_EXCLUDE_LINES } from './workspace-only-paths.js';

export const TELECODER_AUTHOR = { name: 'TeleCoder', email: 'telecoder@users.noreply.github.com' } as const;

const DEFAULT_MAX_PATCH_BYTES = 50 * 1024 * 1024;
const SANDBOX_UID = 1000;

export interface CloneOptions {
  access: RepoAccess;
  /** Private directory for the server's clone; created (mode 0700) when missing, must be empty. */
  dir: string;
  /** The branch the work goes to; created from the base unless it is the base itself (a revision). */
  branch: string;
  /** Branch to start from; the remote's default branch when omitted. */
  baseBranch?: string;
  depth?: number;
  /** Patches larger than this are refused by applyPatch. */
  maxPatchBytes?: number;
  /** Per git command. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface CommitOptions {
  message: string;
  authorName?: string;
  authorEmail?: string;
}

export interface PushOptions {
  access: RepoAccess;
  branch: string;
  /**
   * The remote branch must be exactly at this commit (a revision of a pull request), or absent
   * when '' is given; checked before the push, which is itself fast-forward only.
   */
  expectedRemoteSha?: string;
  signal?: AbortSignal;
}

/** A branch name safe to put on a git command line (no option look-alikes, no ref games). */
function assertBranchName(branch: string, what: string): void {
  if (
    !branch ||
    branch.startsWith('-') ||
    branch.startsWith('refs/') ||
    branch.endsWith('/') ||
    branch.endsWith('.lock') ||
    branch.includes('..') ||
    branch.includes('@{') ||
    branch.includes('//') ||
    branch === 'HEAD' ||
    /[\s~^:?*[\\\x00-\x1f\x7f]/.test(branch) ||
    branch.split('/').some((part) => part === '' || part.startsWith('.'))
  ) {
    throw new Error(`${what} "${branch}" is not a valid branch name; use a short name like telecoder/abc123`);
  }
}

/** Paths a patch names in its headers (before the first hunk of each file), unquoted enough to check. */
function patchHeaderPaths(patch: string): string[] {
  const paths: string[] = [];
  let inHeader = false;
  for (const line of patch.split('\n')) {
    if (line.startsWith('diff --git ')) {
      inHeader = true;
      paths.push(line.slice('diff --git '.length));
      continue;
    }
    if (!inHeader) continue;
    if (line.startsWith('@@') || line.startsWith('GIT binary patch')) {
      inHeader = false;
      continue;
    }
    const header = /^(?:--- |\+\+\+ |rename from |rename to |copy from |copy to )(.*)$/.exec(line);
    if (header?.[1] !== undefined) paths.push(header[1]);
  }
  return paths;
}

/** True when a path has a `.git` component (any case: case-insensitive file systems exist). */
function touchesGitDir(pathText: string): boolean {
  return /(^|[\s"/\\])\.git($|[\s"/\\])/i.test(pathText);
}

/**
 * The server's own clone of a repository. Git runs here only; the sandbox gets a copy (a tar
 * stream) and its work comes back as a patch, so nothing the agent writes is ever executed by git
 * on the server.
 */
export class GitWorkspace {
  readonly dir: string;
  /** The commit the work starts from. */
  readonly baseSha: string;
  /** The branch checked out by the clone (the remote's default when none was asked for). */
  readonly baseBranch: string;
  /** The branch commits are made on. */
  readonly branch: string;
  readonly #remoteDefaultBranch: string | undefined;
  readonly #maxPatchBytes: number;
  readonly #timeoutMs: number | undefined;

  private constructor(init: {
    dir: string;
    baseSha: string;
    baseBranch: string;
    branch: string;
    remoteDefaultBranch: string | undefined;
    maxPatchBytes: number;
    timeoutMs: number | undefined;
  }) {
    this.dir = init.dir;
    this.baseSha = init.baseSha;
    this.baseBranch = init.baseBranch;
    this.branch = init.branch;
    this.#remoteDefaultBranch = init.remoteDefaultBranch;
    this.#maxPatchBytes = init.maxPatchBytes;
    this.#timeoutMs = init.timeoutMs;
  }

  static async clone(options: CloneOptions): Promise<GitWorkspace> {
    const { access, dir } = options;
    const depth = options.depth ?? 1;
    if (!Number.isInteger(depth) || depth < 1) throw new Error(`clone depth must be a whole number ≥ 1 (got ${depth})`);
    assertBranchName(options.branch, 'branch');
    if (options.baseBranch !== undefined) assertBranchName(options.baseBranch, 'base branch');

    await mkdir(dir, { recursive: true, mode: 0o700 });
    // mkdir's mode is filtered by the umask and ignored for an existing directory.
    await chmod(dir, 0o700);
    if ((await readdir(dir)).length > 0) {
      throw new Error(`cannot clone into ${dir}: the directory is not empty; give each clone a fresh directory`);
    }

    try {
      const run = (args: string[], env?: Record<string, string>) =>
        runGit(args, { cwd: dir, timeoutMs: options.timeoutMs, signal: options.signal, ...(env ? { env } : {}) });

      // No checkout: the server never needs the files, only the index. The sandbox checks the
      // tree out itself from the .git it is given (for a big repository, writing the files once
      // there instead of on the server and again through a tar stream is most of the start time).
      const cloneArgs = ['clone', '--quiet', '--no-checkout', '--depth', String(depth), '--no-tags', '--single-branch'];
      if (options.baseBranch !== undefined) cloneArgs.push('--branch', options.baseBranch);
      // `--` keeps a URL from ever being read as an option.
      cloneArgs.push('--', access.cloneUrl, dir);
      try {
        await run(cloneArgs, access.gitEnv);
      } catch (error) {
        throw new Error(`could not clone ${access.repo}: ${error instanceof Error ? error.message : String(error)}`);
      }

      let baseSha: string;
      try {
        baseSha = (await run(['rev-parse', '--verify', 'HEAD^{commit}'])).stdout.trim();
      } catch {
        throw new Error(`${access.repo} has no commits on ${options.baseBranch ?? 'its default branch'}; push an initial commit first`);
      }
      const baseBranch = (await run(['symbolic-ref', '--short', 'HEAD'])).stdout.trim();
      const remoteDefaultBranch = access.defaultBranch ?? (options.baseBranch === undefined ? baseBranch : undefined);

      if (options.branch !== baseBranch) {
        await run(['update-ref', `refs/heads/${options.branch}`, baseSha, '']);
        await run(['symbolic-ref', 'HEAD', `refs/heads/${options.branch}`]);
      }
      await run(['read-tree', 'HEAD']);
      // Installed dependencies stay out of the agent's `git status` in the sandbox (delivery
      // leaves them out regardless). Written into the server's own clone, so it travels in the tar.
      await mkdir(join(dir, '.git', 'info'), { recursive: true });
      await appendFile(join(dir, '.git', 'info', 'exclude'), `\n# TeleCoder workspace setup\n${WORKSPACE_ONLY_EXCLUDE_LINES.join('\n')}\n`);
      // The one kind of file the server does write: .gitignore files, which applyPatch asks what
      // the base ignores. They come from the repository's own tree, never from the sandbox.
      const ignoreFiles = (await run(['ls-files', '-z', '--', ':(glob).gitignore', ':(glob)**/.gitignore'])).stdout;
      if (ignoreFiles !== '') {
        await runGit(['checkout-index', '-f', '-z', '--stdin'], { cwd: dir, timeoutMs: options.timeoutMs, signal: options.signal, input: ignoreFiles });
      }
      return new GitWorkspace({
        dir,
        baseSha,
        baseBranch,
        branch: options.branch,
        remoteDefaultBranch,
        maxPatchBytes: options.maxPatchBytes ?? DEFAULT_MAX_PATCH_BYTES,
        timeoutMs: options.timeoutMs,
      });
    } catch (error) {
      // A half-made clone is nobody's to clean up but ours: the caller never got a workspace.
      await rm(dir, { recursive: true, force: true, maxRetries: 3 }).catch(() => undefined);
      throw error;
    }
  }

  /**
   * The whole clone as a tar stream for the sandbox's workspace: its .git (the files are not
   * checked out on the server; the sandbox does that, see checkoutInSandbox) and the .gitignore
   * files. Every entry is owned by the sandbox user and named relative to `.`.
   */
  packForSandbox(options: { uid?: number; gid?: number } = {}): Readable {
    const uid = options.uid ?? SANDBOX_UID;
    const gid = options.gid ?? SANDBOX_UID;
    const tar = pack(this.dir, {
      umask: 0,
      map: (header) => {
        const root = header.name === '.' || header.name === '';
        return {
          ...header,
          name: root ? '.' : `./${header.name}`,
          uid,
          gid,
          uname: '',
          gname: '',
          // The clone's own directory is private on the server; in the sandbox it is the workspace.
          ...(root ? { mode: 0o755 } : {}),
        };
      },
    } as Parameters<typeof pack>[1]);
    // tar-fs streams are streamx streams; hand callers a plain Node stream that carries errors.
    const out = new PassThrough();
    tar.on('error', (error: Error) => out.destroy(error));
    tar.pipe(out);
    return out;
  }

  /**
   * Applies a binary patch (as made by extractPatch) to the index (the server checks no files out). New files the
   * base's .gitignore ignores, and anything inside node_modules/ or .venv/, are left out: installed
   * dependencies and build output are never part of a change, whatever the sandbox sent.
   */
  async applyPatch(
    patch: string | Buffer,
    options: { signal?: AbortSignal } = {},
  ): Promise<{ changedFiles: string[]; leftOut: string[] }> {
    const size = typeof patch === 'string' ? Buffer.byteLength(patch) : patch.length;
    if (size > this.#maxPatchBytes) {
      throw new Error(
        `the agent's change is a ${size}-byte patch, over the ${this.#maxPatchBytes}-byte limit; ` +
          `ask for a smaller change or keep generated files and binaries out of the repository`,
      );
    }
    const text = typeof patch === 'string' ? patch : patch.toString('utf8');
    if (text.trim() === '') return { changedFiles: [], leftOut: [] };
    const gitPath = patchHeaderPaths(text).find(touchesGitDir);
    if (gitPath !== undefined) {
      throw new Error(`refusing the agent's patch: it touches git metadata (${gitPath.slice(0, 200)}); only repository files may change`);
    }

    const run = (args: string[], input?: string | Buffer) =>
      runGit(args, { cwd: this.dir, timeoutMs: this.#timeoutMs, signal: options.signal, ...(input !== undefined ? { input } : {}) });
    const leftOut = await this.#pathsToLeaveOut(patch, run);
    const before = (await run(['write-tree'])).stdout.trim();
    try {
      // --exclude takes a wildmatch pattern: the exact path, its special characters escaped.
      const excludes = leftOut.map((path) => `--exclude=${path.replace(/[\\*?[\]]/g, '\\$&')}`);
      // --cached: the patch goes into the index only. The server has no checked-out files, and
      // never writes what the sandbox sent to its disk.
      await run(['apply', '--cached', '--binary', '--whitespace=nowarn', ...excludes, '-'], patch);
    } catch (error) {
      const detail = error instanceof GitError ? error.stderr : String(error);
      throw new Error(`the agent's patch does not apply to ${this.branch} at ${this.baseSha.slice(0, 12)}: ${detail}`);
    }
    const after = (await run(['write-tree'])).stdout.trim();
    if (before === after) return { changedFiles: [], leftOut };
    const names = (await run(['diff-tree', '-r', '-z', '--no-renames', '--name-only', before, after])).stdout;
    return { changedFiles: names.split('\0').filter((name) => name !== ''), leftOut };
  }

  /**
   * Paths of the patch that must not be delivered: inside a dependency directory, or new and
   * ignored by the .gitignore files of the tree as it is now (the base, before the patch: the
   * agent's own edits to .gitignore do not count). Tracked files are never reported by
   * check-ignore, so changes to files the repository already has always go through.
   */
  async #pathsToLeaveOut(patch: string | Buffer, run: (args: string[], input?: string | Buffer) => Promise<{ stdout: string }>): Promise<string[]> {
    const numstat = (await run(['apply', '--numstat', '-z', '-'], patch)).stdout;
    const paths = new Set<string>();
    // Each record: "added\tdeleted\tpath\0", or for a rename/copy "added\tdeleted\t\0from\0to\0".
    const fields = numstat.split('\0');
    for (let index = 0; index < fields.length; index++) {
      const field = fields[index]!;
      if (field === '') continue;
      const parts = field.split('\t');
      if (parts.length < 3) continue;
      const path = parts.slice(2).join('\t');
      if (path !== '') {
        paths.add(path);
      } else {
        const to = fields[index + 2];
        if (to) paths.add(to);
        index += 2;
      }
    }
    const leaveOut = new Set([...paths].filter(isWorkspaceOnlyPath));
    const candidates = [...paths].filter((path) => !leaveOut.has(path));
    if (candidates.length > 0) {
      try {
        const ignored = (await run(['check-ignore', '-z', '--stdin'], `${candidates.join('\0')}\0`)).stdout;
        for (const path of ignored.split('\0')) if (path !== '') leaveOut.add(path);
      } catch (error) {
        // Exit 1: nothing is ignored.
        if (!(error instanceof GitError && error.exitCode === 1)) throw error;
      }
    }
    return [...leaveOut].sort();
  }

  /** How many files the base tree has. */
  async fileCount(): Promise<number> {
    const listed = (await runGit(['ls-files', '-z'], { cwd: this.dir, timeoutMs: this.#timeoutMs })).stdout;
    return listed === '' ? 0 : listed.split('\0').length - 1;
  }

  /** Commits the index; null when nothing is staged. */
  async commit(options: CommitOptions): Promise<string | null> {
    if (options.message.trim() === '') throw new Error('a commit message is required');
    const run = (args: string[], input?: string) =>
      runGit(args, { cwd: this.dir, timeoutMs: this.#timeoutMs, ...(input !== undefined ? { input } : {}) });
    try {
      await run(['diff', '--cached', '--quiet', '--no-ext-diff']);
      return null;
    } catch (error) {
      if (!(error instanceof GitError && error.exitCode === 1)) throw error;
    }
    const args = ['-c', `user.name=${TELECODER_AUTHOR.name}`, '-c', `user.email=${TELECODER_AUTHOR.email}`, 'commit', '--quiet', '--no-verify'];
    if (options.authorName || options.authorEmail) {
      args.push(`--author=${options.authorName ?? TELECODER_AUTHOR.name} <${options.authorEmail ?? TELECODER_AUTHOR.email}>`);
    }
    // The message goes through stdin so no text of it is ever parsed as an option.
    args.push('--cleanup=whitespace', '--file=-');
    await run(args, options.message);
    return (await run(['rev-parse', 'HEAD'])).stdout.trim();
  }

  /**
   * Pushes HEAD to `branch` as a fast-forward only (never forced) and never to the default
   * branch. The credential reaches git only through `access.gitEnv`.
   */
  async push(options: PushOptions): Promise<void> {
    const { access, branch } = options;
    assertBranchName(branch, 'push branch');
    const defaults = new Set([access.defaultBranch, this.#remoteDefaultBranch].filter((name) => name !== undefined));
    if (defaults.has(branch)) {
      throw new Error(`refusing to push to ${branch}: it is the default branch of ${access.repo}; TeleCoder pushes only to its own branches`);
    }
    const run = (args: string[]) => runGit(args, { cwd: this.dir, env: access.gitEnv, timeoutMs: this.#timeoutMs, signal: options.signal });

    if (options.expectedRemoteSha !== undefined) {
      const listed = (await run(['ls-remote', '--', access.cloneUrl, `refs/heads/${branch}`])).stdout.trim();
      const remoteSha = listed.split(/\s+/)[0] ?? '';
      if (remoteSha !== options.expectedRemoteSha) {
        throw new Error(
          `refusing to push to ${branch}: the branch moved on ${access.repo} (expected ${options.expectedRemoteSha.slice(0, 12) || 'no branch'}, ` +
            `found ${remoteSha.slice(0, 12) || 'no branch'}); someone else pushed to it, so start again from its new head`,
        );
      }
    }

    try {
      await run(['push', '--quiet', '--no-verify', '--', access.cloneUrl, `HEAD:refs/heads/${branch}`]);
    } catch (error) {
      const stderr = error instanceof GitError ? error.stderr : '';
      if (/\[rejected\]|non-fast-forward|fetch first|\(stale info\)/.test(stderr)) {
        throw new Error(
          `push to ${branch} of ${access.repo} was rejected: the branch moved on the remote since it was cloned ` +
            `(someone else pushed to it) and TeleCoder never force-pushes; start again from the branch's new head`,
        );
      }
      throw new Error(`could not push ${branch} to ${access.repo}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true, maxRetries: 3 });
  }
}
