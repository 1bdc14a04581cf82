import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ChangeLimits } from '../git/change-limits.js';
import { GitWorkspace } from '../git/git-workspace.js';
import { GIT_WALL_ARGS, SANDBOX_GIT_ENV, sandboxGit } from '../git/git-walls.js';
import type { RepoMirrors } from '../git/repo-mirrors.js';
import type { GitProvider } from '../gitprovider/provider.js';
import type { Logger } from '../logger.js';
import type { Session, SessionEventType } from '../model/session.js';
import { egressBlockedMessage } from '../sandbox/egress/egress-settings.js';
import type { Runtime, Sandbox, SandboxLimits, SandboxNetwork } from '../sandbox/runtime.js';
import { readProjectInstructions } from './project-instructions.js';
import { prepend, readUpTo } from '../sandbox/read-up-to.js';

export interface PrepareWorkspaceDeps {
  runtime: Runtime;
  provider: GitProvider;
  logger: Logger;
  workspacesDir: string;
  /** Per-repository bare mirrors: the session's clone is made from one, locally. */
  mirrors: RepoMirrors;
  sandbox: { network: SandboxNetwork; limits: SandboxLimits };
  /** Mount the repository's dependency cache in the sandbox. */
  dependencyCache: boolean;
  /** Repositories with at least this many files get a workspace snapshot for later sessions. */
  snapshotMinFiles: number;
  /** What the agent's change may expand to (TELECODER_MAX_CHANGE_SIZE / _FILES); the clone enforces it on delivery. */
  change: ChangeLimits;
}

export interface PrepareWorkspaceContext {
  session: Session;
  signal: AbortSignal;
  emit(type: SessionEventType, data: unknown): void;
  /** Lets the engine kill the sandbox at once when the session is stopped. */
  onSandbox(sandbox: Sandbox): void;
}

export interface PreparedWorkspace {
  /** A fresh sandbox holding the repository at `base.sha` on the session's branch. */
  sandbox: Sandbox;
  /** The commit and branch the work starts from. */
  base: { sha: string; branch: string };
  /**
   * The server's private clone, on the session's branch: only delivery needs it. When the sandbox
   * came from a snapshot it is still being made while the agent works, off the critical path.
   */
  clone: Promise<GitWorkspace>;
  /** The repository's agent instructions (AGENTS.md, CLAUDE.md) at the base commit. */
  project: { file: string; text: string } | undefined;
  /** The repository as its provider names it (what caches and snapshots are keyed by). */
  repo: string;
}

/** Removes a sandbox and a clone (waiting for one still being made), logging what could not be removed. */
export async function releaseWorkspace(
  parts: { sandbox?: Sandbox | undefined; clone?: Promise<GitWorkspace> | undefined },
  logger: Logger,
  sessionId: string,
): Promise<void> {
  const settled = await Promise.allSettled([
    parts.sandbox?.destroy(),
    // A clone that failed removed its own directory: nothing to release.
    parts.clone?.then((workspace) => workspace.remove(), () => undefined),
  ]);
  for (const outcome of settled) {
    if (outcome.status === 'rejected') logger.warn({ err: outcome.reason, session: sessionId }, 'cleanup failed');
  }
}

const CHECKOUT_TIMEOUT_MS = 10 * 60_000;
/** A workspace's .git up to this size is kept in memory for the runtime's warm pool (Runtime.offerWorkspace). */
const OFFER_MAX_BYTES = 8 * 1024 * 1024;
/**
 * Writes the files from the .git the sandbox was given (the server's clone has none checked out).
 * Behind the git walls: the checkout runs nothing from the repository.
 */
export const SANDBOX_CHECKOUT: readonly string[] = sandboxGit('reset', '-q', '--hard');

async function gitInSandbox(sandbox: Sandbox, argv: readonly string[], what: string, signal: AbortSignal): Promise<void> {
  const result = await sandbox.exec([...argv], {
    timeoutMs: CHECKOUT_TIMEOUT_MS,
    env: SANDBOX_GIT_ENV,
    signal,
  });
  if (result.exitCode !== 0 || result.timedOut) {
    const detail = (result.stderr || result.stdout).trim().slice(0, 1000);
    throw new Error(
      `could not ${what} in the sandbox (${result.timedOut ? 'timed out' : `exit ${result.exitCode}`})` +
        `${detail ? `: ${detail}` : ''}; the sandbox may be out of disk space or memory`,
    );
  }
}

/**
 * Fetches into the repository's mirror, then at the same time starts the sandbox and clones
 * privately from the mirror (no files checked out on the server). A sandbox from a snapshot of
 * this very commit already holds the files, so the agent starts without waiting for the clone;
 * otherwise the sandbox gets the clone's .git and checks the files out itself (and a snapshot is
 * made in the background for the next session). On failure it removes whatever it made, so the
 * caller owns the sandbox and the clone only once they are ready.
 */
export async function prepareWorkspace(deps: PrepareWorkspaceDeps, context: PrepareWorkspaceContext): Promise<PreparedWorkspace> {
  const { session, signal, emit } = context;
  let sandbox: Sandbox | undefined;
  let starting: Promise<Sandbox> | undefined;
  let clone: Promise<GitWorkspace> | undefined;
  try {
    emit('output', `Preparing ${session.repo}`);
    // Checked (or built) while the repository is fetched; the sandbox waits for it below.
    const imageReady = deps.runtime.ensureImage((line) => emit('output', `[sandbox image] ${line}`));
    imageReady.catch(() => undefined);
    const access = await deps.provider.access(session.repo, signal);
    await mkdir(deps.workspacesDir, { recursive: true, mode: 0o700 });
    // A revision starts from the pull request's head as it is; a task from the base branch.
    const baseBranch = session.options.revision?.headBranch ?? session.options.baseBranch ?? access.defaultBranch;
    const started = Date.now();
    let fetched!: (mirror: { commit: string; branch: string; created: boolean; gitDir: string }) => void;
    const mirrored = new Promise<Parameters<typeof fetched>[0]>((resolve) => (fetched = resolve));
    // The clone is made while the mirror's lock is held (a later fetch cannot move the branch
    // under it), but the session goes on as soon as the mirror is fetched.
    clone = deps.mirrors.withBranch(
      access,
      baseBranch,
      async (mirror) => {
        // The fetch above failed fast on a wrong repository; the sandbox now starts while the clone is made.
        starting = imageReady.then(() =>
            deps.runtime.create({
              sessionId: session.id,
              network: deps.sandbox.network,
              // Said in the session, so the user knows why an install failed and what allows it.
              onEgressBlocked: (blocked) => emit('output', egressBlockedMessage(blocked)),
              limits: deps.sandbox.limits,
              workspace: { repo: access.repo, commit: mirror.commit },
              ...(deps.dependencyCache ? { cache: { repo: access.repo } } : {}),
            }),
          );
        // Whatever happens to the clone, a sandbox that did start is reported, so it is always removed.
        starting.then(
          (started) => context.onSandbox(started),
          () => undefined,
        );
        const cloning = GitWorkspace.clone({
          // The mirror is this server's own: the clone from it needs no credential and no network.
          access: { ...access, cloneUrl: mirror.url, gitEnv: {} },
          dir: join(deps.workspacesDir, session.id),
          branch: session.branch,
          baseBranch: mirror.branch,
          changeLimits: deps.change,
          signal,
        });
        cloning.catch(() => undefined);
        fetched({ commit: mirror.commit, branch: mirror.branch, created: mirror.created, gitDir: mirror.gitDir });
        const workspace = await cloning;
        emit('output', `Cloned ${session.repo} from its mirror on the server, ${Date.now() - started} ms after the fetch began`);
        return workspace;
      },
      signal,
    );
    // Whoever awaits the clone sees its failure; this only keeps an early one from going unhandled.
    clone.catch(() => undefined);
    const mirror = await Promise.race([mirrored, clone.then(() => mirrored)]);
    emit(
      'output',
      `Fetched ${session.repo} at ${mirror.branch} (${mirror.commit.slice(0, 12)}) ` +
        `${mirror.created ? 'into a new mirror' : 'into its mirror, only what changed'} in ${Date.now() - started} ms`,
    );
    // Read by commit from the mirror while the sandbox is made ready.
    const project = readProjectInstructions({ gitDir: mirror.gitDir, commit: mirror.commit });
    project.catch(() => undefined);
    sandbox = await starting!;
    signal.throwIfAborted();
    if (sandbox.workspacePrepared) {
      // The snapshot holds the files at this commit; only the branch is this session's own. Refs
      // only: a checkout would re-read every file of a big tree to refresh the index.
      await gitInSandbox(
        sandbox,
        // The walls follow the branch as arguments: `git "$@"` gets them on both commands.
        ['sh', '-c', 'b=$1; shift; git "$@" update-ref "refs/heads/$b" HEAD && git "$@" symbolic-ref HEAD "refs/heads/$b"', 'sh', session.branch, ...GIT_WALL_ARGS],
        "switch to the session's branch",
        signal,
      );
      emit('output', `Sandbox ready from ${sandbox.preparedFrom ?? "the repository's workspace snapshot"}; the agent is starting`);
    } else {
      await copyIntoSandbox(deps, { sandbox, workspace: await clone, repo: access.repo, sessionId: session.id }, signal);
      emit('output', 'Sandbox ready; the agent is starting');
    }
    return { sandbox, base: { sha: mirror.commit, branch: mirror.branch }, clone, project: await project, repo: access.repo };
  } catch (error) {
    // A sandbox still starting when the clone failed is removed as soon as it exists.
    sandbox ??= await starting?.catch(() => undefined);
    await releaseWorkspace({ sandbox, clone }, deps.logger, session.id);
    throw error;
  }
}

/**
 * Copies the clone's .git into the sandbox and checks the files out there. The same tar stream
 * goes to a file for the runtime's snapshot of this commit, which is made in the background.
 */
async function copyIntoSandbox(
  deps: PrepareWorkspaceDeps,
  target: { sandbox: Sandbox; workspace: GitWorkspace; repo: string; sessionId: string },
  signal: AbortSignal,
): Promise<void> {
  const { sandbox, workspace } = target;
  const snapshot = deps.runtime.snapshotWorkspace && (await workspace.fileCount()) >= deps.snapshotMinFiles;
  let archive: Readable = workspace.packForSandbox();
  let saved: Promise<string> | undefined;
  let kept: Buffer | undefined;
  if (snapshot) {
    const file = join(deps.workspacesDir, `${target.sessionId}.snapshot.tar`);
    const copy = new PassThrough();
    archive.pipe(copy);
    saved = pipeline(copy, createWriteStream(file, { mode: 0o600 })).then(() => file);
    saved.catch(() => undefined);
  } else if (deps.runtime.offerWorkspace) {
    // Small enough to keep: the runtime's warm pool may put it in the next sandbox ahead of time.
    const head = await readUpTo(archive, OFFER_MAX_BYTES);
    kept = head.ended ? Buffer.concat(head.chunks) : undefined;
    archive = kept ? Readable.from([kept]) : Readable.from(prepend(head.chunks, archive));
  }
  await sandbox.putArchive(sandbox.workspace, archive);
  signal.throwIfAborted();
  await gitInSandbox(sandbox, SANDBOX_CHECKOUT, 'check the repository out', signal);
  deps.runtime.offerWorkspace?.(sandbox, { archive: kept, checkout: SANDBOX_CHECKOUT, env: SANDBOX_GIT_ENV });
  if (!saved) return;
  void saved
    .then((file) =>
      deps.runtime
        .snapshotWorkspace!({
          repo: target.repo,
          commit: workspace.baseSha,
          archive: () => createReadStream(file),
          checkout: SANDBOX_CHECKOUT,
          limits: deps.sandbox.limits,
        })
        .finally(() => rm(file, { force: true })),
    )
    .catch((error: unknown) => deps.logger.warn({ err: error, session: target.sessionId }, 'could not save the workspace for a snapshot'));
}
