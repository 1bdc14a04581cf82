import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { GitWorkspace } from '../git/git-workspace.js';
import type { RepoMirrors } from '../git/repo-mirrors.js';
import type { GitProvider } from '../gitprovider/provider.js';
import type { Logger } from '../logger.js';
import type { Session, SessionEventType } from '../model/session.js';
import type { Runtime, Sandbox, SandboxLimits } from '../sandbox/runtime.js';

export interface PrepareWorkspaceDeps {
  runtime: Runtime;
  provider: GitProvider;
  logger: Logger;
  workspacesDir: string;
  /** Per-repository bare mirrors: the session's clone is made from one, locally. */
  mirrors: RepoMirrors;
  sandbox: { network: string; limits: SandboxLimits };
  /** Mount the repository's dependency cache in the sandbox. */
  dependencyCache: boolean;
}

export interface PrepareWorkspaceContext {
  session: Session;
  signal: AbortSignal;
  emit(type: SessionEventType, data: unknown): void;
  /** Lets the engine kill the sandbox at once when the session is stopped. */
  onSandbox(sandbox: Sandbox): void;
}

export interface PreparedWorkspace {
  /** The server's private clone, on the session's branch. */
  workspace: GitWorkspace;
  /** A fresh sandbox holding a copy of that clone. */
  sandbox: Sandbox;
}

/** Removes a sandbox and a clone, logging (not throwing) what could not be removed. */
export async function releaseWorkspace(
  parts: { sandbox?: Sandbox | undefined; workspace?: GitWorkspace | undefined },
  logger: Logger,
  sessionId: string,
): Promise<void> {
  const settled = await Promise.allSettled([parts.sandbox?.destroy(), parts.workspace?.remove()]);
  for (const outcome of settled) {
    if (outcome.status === 'rejected') logger.warn({ err: outcome.reason, session: sessionId }, 'cleanup failed');
  }
}

const CHECKOUT_TIMEOUT_MS = 10 * 60_000;

/**
 * Writes the repository's files in the sandbox from the .git it was given (the server's clone has
 * none checked out). Runs as the sandbox user with hooks off, on git data from the server's clone.
 */
async function checkoutInSandbox(sandbox: Sandbox, signal: AbortSignal): Promise<void> {
  const result = await sandbox.exec(['git', '-c', 'core.hooksPath=/dev/null', '-c', 'core.fsmonitor=false', 'reset', '-q', '--hard'], {
    timeoutMs: CHECKOUT_TIMEOUT_MS,
    env: { GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' },
    signal,
  });
  if (result.exitCode !== 0 || result.timedOut) {
    const detail = (result.stderr || result.stdout).trim().slice(0, 1000);
    throw new Error(
      `could not check the repository out in the sandbox (${result.timedOut ? 'timed out' : `exit ${result.exitCode}`})` +
        `${detail ? `: ${detail}` : ''}; the sandbox may be out of disk space or memory`,
    );
  }
}

/**
 * Clones the repository on the server and copies the clone into a fresh sandbox. On failure it
 * removes whatever it made, so the caller owns the sandbox and the clone only once they are ready.
 */
export async function prepareWorkspace(deps: PrepareWorkspaceDeps, context: PrepareWorkspaceContext): Promise<PreparedWorkspace> {
  const { session, signal, emit } = context;
  let sandbox: Sandbox | undefined;
  let workspace: GitWorkspace | undefined;
  try {
    emit('output', `Preparing ${session.repo}`);
    const access = await deps.provider.access(session.repo, signal);
    await mkdir(deps.workspacesDir, { recursive: true, mode: 0o700 });
    // A revision starts from the pull request's head as it is; a task from the base branch.
    const baseBranch = session.options.revision?.headBranch ?? session.options.baseBranch ?? access.defaultBranch;
    const dir = join(deps.workspacesDir, session.id);
    const started = Date.now();
    const { cloned, created } = await deps.mirrors.withBranch(
      access,
      baseBranch,
      async (mirror) => ({
        created: mirror.created,
        // The mirror is this server's own: the clone from it needs no credential and no network.
        cloned: await GitWorkspace.clone({
          access: { ...access, cloneUrl: mirror.url, gitEnv: {} },
          dir,
          branch: session.branch,
          baseBranch: mirror.branch,
          signal,
        }),
      }),
      signal,
    );
    workspace = cloned;
    signal.throwIfAborted();
    emit(
      'output',
      `Cloned ${session.repo} at ${workspace.baseBranch} (${workspace.baseSha.slice(0, 12)}) ` +
        `${created ? 'into a new mirror' : 'from its mirror, fetching only what changed'} in ${Date.now() - started} ms`,
    );

    await deps.runtime.ensureImage((line) => emit('output', `[sandbox image] ${line}`));
    signal.throwIfAborted();
    sandbox = await deps.runtime.create({
      sessionId: session.id,
      network: deps.sandbox.network,
      limits: deps.sandbox.limits,
      ...(deps.dependencyCache ? { cache: { repo: access.repo } } : {}),
    });
    context.onSandbox(sandbox);
    await sandbox.putArchive(sandbox.workspace, workspace.packForSandbox());
    signal.throwIfAborted();
    await checkoutInSandbox(sandbox, signal);
    emit('output', 'Sandbox ready; the agent is starting');
    return { workspace, sandbox };
  } catch (error) {
    await releaseWorkspace({ sandbox, workspace }, deps.logger, session.id);
    throw error;
  }
}
