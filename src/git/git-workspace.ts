import { createWriteStream } from 'node:fs';
import { appendFile, chmod, mkdir, open, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pack } from 'tar-fs';
import type { RepoAccess } from '../gitprovider/provider.js';
import { CHANGE_FILES_SETTING, ChangeTooLargeError, DEFAULT_CHANGE_LIMITS, raiseHint, shownPath, type ChangeLimits } from './change-limits.js';
import { cutDiff } from './cut-diff.js';
import { parseNumstat, refusedPathReason } from './patch-paths.js';
import { PatchSizeGuard } from './patch-size-guard.js';
import { GitError, runGit } from './run-git.js';
import { isWorkspaceOnlyPath, WORKSPACE_ONLY_EXCLUDE_LINES } from './workspace-only-paths.js';

export const TELECODER_AUTHOR = { name: 'TeleCoder', email: 'telecoder@users.noreply.github.com' } as const;

const SANDBOX_UID = 1000;
/** Where a patch from the sandbox waits for git, inside the clone's private .git (never packed for a sandbox: see applyPatch). */
const INCOMING_PATCH = 'telecoder-incoming.patch';

export interface CloneOptions {
  access: RepoAccess;
  /** Private directory for the server's clone; created (mode 0700) when missing, must be empty. */
  dir: string;
  /** The branch the work goes to; created from the base unless it is the base itself (a revision). */
  branch: string;
  /** Branch to start from; the remote's default branch when omitted. */
  baseBranch?: string;
  depth?: number;
  /** What a change applied here may expand to (applyPatch refuses more); the settings' defaults when omitted. */
  changeLimits?: ChangeLimits;
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

/** True for a patch of nothing but blank lines (git would call it "no valid patches"). */
async function isBlank(file: string, size: number): Promise<boolean> {
  if (size > 4096) return false;
  return (await readFile(file, 'utf8')).trim() === '';
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
  /** What a change applied here may expand to; extractPatch checks the same limits in the sandbox. */
  readonly changeLimits: ChangeLimits;
  readonly #remoteDefaultBranch: string | undefined;
  readonly #timeoutMs: number | undefined;

  private constructor(init: {
    dir: string;
    baseSha: string;
    baseBranch: string;
    branch: string;
    remoteDefaultBranch: string | undefined;
    changeLimits: ChangeLimits;
    timeoutMs: number | undefined;
  }) {
    this.dir = init.dir;
    this.baseSha = init.baseSha;
    this.baseBranch = init.baseBranch;
    this.branch = init.branch;
    this.#remoteDefaultBranch = init.remoteDefaultBranch;
    this.changeLimits = init.changeLimits;
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
      // No template: its sample hooks and description would only make the sandbox's copy bigger.
      const cloneArgs = ['clone', '--quiet', '--template=', '--no-checkout', '--depth', String(depth), '--no-tags', '--single-branch'];
      if (options.baseBranch !== undefined) cloneArgs.push('--branch', options.baseBranch);
      // `--` keeps a URL from ever being read as an option.
      cloneArgs.push('--', access.cloneUrl, dir);
      try {
        await run(cloneArgs, access.gitEnv);
      } catch (error) {
        throw new Error(`could not clone ${access.repo}: ${error instanceof Error ? error.message : String(error)}`);
      }

      let baseSha: string;
      let baseBranch: string;
      try {
        // One git for both: the commit HEAD is at, then the branch it names.
        const [sha, branch] = (await run(['rev-parse', 'HEAD^{commit}', '--abbrev-ref', 'HEAD'])).stdout.trim().split('\n');
        if (!sha || !/^[0-9a-f]{40,64}$/.test(sha) || !branch) throw new Error(`unexpected rev-parse output`);
        [baseSha, baseBranch] = [sha, branch];
      } catch {
        throw new Error(`${access.repo} has no commits on ${options.baseBranch ?? 'its default branch'}; push an initial commit first`);
      }
      const remoteDefaultBranch = access.defaultBranch ?? (options.baseBranch === undefined ? baseBranch : undefined);

      // The session's branch and the index are independent (each takes its own lock), so they
      // are made at once: every git started here is on the session's way to its sandbox.
      const onBranch = async () => {
        if (options.branch === baseBranch) return;
        await run(['update-ref', `refs/heads/${options.branch}`, baseSha, '']);
        await run(['symbolic-ref', 'HEAD', `refs/heads/${options.branch}`]);
      };
      const indexed = async () => {
        await run(['read-tree', baseSha]);
        // The one kind of file the server does write: .gitignore files, which applyPatch asks what
        // the base ignores. They come from the repository's own tree, never from the sandbox.
        const ignoreFiles = (await run(['ls-files', '-z', '--', ':(glob).gitignore', ':(glob)**/.gitignore'])).stdout;
        if (ignoreFiles !== '') {
          await runGit(['checkout-index', '-f', '-z', '--stdin'], { cwd: dir, timeoutMs: options.timeoutMs, signal: options.signal, input: ignoreFiles });
        }
      };
      const excluded = async () => {
        // Installed dependencies stay out of the agent's `git status` in the sandbox (delivery
        // leaves them out regardless). Written into the server's own clone, so it travels in the tar.
        await mkdir(join(dir, '.git', 'info'), { recursive: true });
        await appendFile(join(dir, '.git', 'info', 'exclude'), `\n# TeleCoder workspace setup\n${WORKSPACE_ONLY_EXCLUDE_LINES.join('\n')}\n`);
      };
      const settled = await Promise.allSettled([onBranch(), indexed(), excluded()]);
      const failed = settled.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
      if (failed) throw failed.reason;
      return new GitWorkspace({
        dir,
        baseSha,
        baseBranch,
        branch: options.branch,
        remoteDefaultBranch,
        changeLimits: options.changeLimits ?? DEFAULT_CHANGE_LIMITS,
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
    const incoming = join(this.dir, '.git', INCOMING_PATCH);
    const tar = pack(this.dir, {
      umask: 0,
      // A patch being applied is the server's business, not the next sandbox's.
      ignore: (name: string) => name === incoming,
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
   * Applies a binary patch (as made by extractPatch) to the index (the server checks no files
   * out). The patch is read as a stream, through a guard that refuses it before git sees it when it
   * is over the change limits (see PatchSizeGuard), into a file in the clone's private .git, which
   * git then reads: the server never holds a whole patch in memory. Which paths it touches is
   * taken from git's own reading of it (`git apply --numstat`): none may be in .git or outside the
   * tree, and there may be no more than the limit. New files the base's .gitignore ignores, and
   * anything inside node_modules/ or .venv/, are left out: installed dependencies and build
   * output are never part of a change, whatever the sandbox sent.
   */
  async applyPatch(
    patch: string | Buffer | Readable,
    options: { signal?: AbortSignal } = {},
  ): Promise<{ changedFiles: string[]; leftOut: string[] }> {
    const file = join(this.dir, '.git', INCOMING_PATCH);
    try {
      const guard = new PatchSizeGuard(this.changeLimits);
      const source = typeof patch === 'string' || Buffer.isBuffer(patch) ? Readable.from([Buffer.from(patch)]) : patch;
      // A refused patch stops the source too: for a sandbox's stream, that ends the command making it.
      await pipeline(source, guard, createWriteStream(file, { mode: 0o600 }), ...(options.signal ? [{ signal: options.signal }] : []));
      if (guard.patchBytes === 0 || (await isBlank(file, guard.patchBytes))) return { changedFiles: [], leftOut: [] };

      const run = (args: string[], input?: string) =>
        runGit(args, { cwd: this.dir, timeoutMs: this.#timeoutMs, signal: options.signal, ...(input !== undefined ? { input } : {}) });
      let touched;
      try {
        touched = parseNumstat((await run(['apply', '--numstat', '-z', '--', file])).stdout);
      } catch (error) {
        const detail = error instanceof GitError ? error.stderr : String(error);
        throw new Error(`the agent's patch cannot be read by git, so it was not applied: ${detail}`);
      }
      if (touched.length > this.changeLimits.maxFiles) {
        throw new ChangeTooLargeError(
          `the agent's patch was refused: it changes ${touched.length} files, over the limit of ${this.changeLimits.maxFiles}; ${raiseHint(CHANGE_FILES_SETTING)}`,
        );
      }
      for (const path of touched) {
        const reason = refusedPathReason(path);
        if (reason !== undefined) throw new Error(`refusing the agent's patch: it touches ${shownPath(path)}, and ${reason}; only repository files may change`);
      }

      const leftOut = await this.#pathsToLeaveOut(touched, run);
      const before = (await run(['write-tree'])).stdout.trim();
      try {
        // --exclude takes a wildmatch pattern: the exact path, its special characters escaped.
        const excludes = leftOut.map((path) => `--exclude=${path.replace(/[\\*?[\]]/g, '\\$&')}`);
        // --cached: the patch goes into the index only. The server has no checked-out files, and
        // never writes what the sandbox sent into its tree.
        await run(['apply', '--cached', '--binary', '--whitespace=nowarn', ...excludes, '--', file]);
      } catch (error) {
        const detail = error instanceof GitError ? error.stderr : String(error);
        throw new Error(`the agent's patch does not apply to ${this.branch} at ${this.baseSha.slice(0, 12)}: ${detail}`);
      }
      const after = (await run(['write-tree'])).stdout.trim();
      if (before === after) return { changedFiles: [], leftOut };
      const names = (await run(['diff-tree', '-r', '-z', '--no-renames', '--name-only', before, after])).stdout;
      return { changedFiles: names.split('\0').filter((name) => name !== ''), leftOut };
    } finally {
      await rm(file, { force: true });
    }
  }

  /**
   * Paths of the patch that must not be delivered: inside a dependency directory, or new and
   * ignored by the .gitignore files of the tree as it is now (the base, before the patch: the
   * agent's own edits to .gitignore do not count). Tracked files are never reported by
   * check-ignore, so changes to files the repository already has always go through.
   */
  async #pathsToLeaveOut(paths: string[], run: (args: string[], input?: string) => Promise<{ stdout: string }>): Promise<string[]> {
    const leaveOut = new Set(paths.filter(isWorkspaceOnlyPath));
    const candidates = [...new Set(paths)].filter((path) => !leaveOut.has(path));
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
    // The index's header holds the count ("DIRC", version, entries): one small read on the
    // session's critical path instead of a git process listing every file.
    const header = await readIndexHeader(join(this.dir, '.git', 'index'));
    if (header) return header.entries;
    const listed = (await runGit(['ls-files', '-z'], { cwd: this.dir, timeoutMs: this.#timeoutMs })).stdout;
    return listed === '' ? 0 : listed.split('\0').length - 1;
  }

  /**
   * What the clone's commits changed since the base, as a readable unified diff (binary files
   * named, not encoded), for people to look at; cut at `maxBytes` with a line saying so.
   */
  async diffText(options: { maxBytes: number }): Promise<string> {
    const range = [this.baseSha, 'HEAD', '--'];
    const run = (args: string[]) => runGit(args, { cwd: this.dir, timeoutMs: this.#timeoutMs });
    try {
      const { stdout } = await run(['diff', '--no-color', '--no-ext-diff', '--no-textconv', '--unified=3', '--src-prefix=a/', '--dst-prefix=b/', ...range]);
      return cutDiff(stdout, options.maxBytes);
    } catch (error) {
      // Past what runGit captures (tens of MiB): the files and their sizes say enough.
      if (!(error instanceof GitError && error.exitCode === null)) throw error;
      const { stdout } = await run(['diff', '--no-color', '--stat=200', ...range]);
      return cutDiff(`(the diff is too large to show; the files it changes:)\n${stdout}`, options.maxBytes);
    }
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

/** The entry count of a git index (format versions 2 to 4), or undefined when the file is not one. */
async function readIndexHeader(file: string): Promise<{ entries: number } | undefined> {
  let handle;
  try {
    handle = await open(file, 'r');
    const header = Buffer.alloc(12);
    const { bytesRead } = await handle.read(header, 0, 12, 0);
    const version = header.readUInt32BE(4);
    if (bytesRead < 12 || header.toString('latin1', 0, 4) !== 'DIRC' || version < 2 || version > 4) return undefined;
    return { entries: header.readUInt32BE(8) };
  } catch {
    return undefined;
  } finally {
    await handle?.close();
  }
}
