import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { GitWorkspace } from '../git/git-workspace.js';
import type { GitProvider } from '../gitprovider/provider.js';
import type { Logger } from '../logger.js';
import type { Session, SessionEventType } from '../model/session.js';
import type { Runtime, Sandbox, SandboxLimits } from '../sandbox/runtime.js';

export interface PrepareWorkspaceDeps {
  runtime: Runtime;
  provider: GitProvider;
  logger: Logger;
  workspacesDir: string;
  sandbox: { network: string; limits: SandboxLimits };
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
    workspace = await GitWorkspace.clone({
      access,
      dir: join(deps.workspacesDir, session.id),
      branch: session.branch,
      ...(baseBranch ? { baseBranch } : {}),
    });
    signal.throwIfAborted();
    emit('output', `Cloned ${session.repo} at ${workspace.baseBranch} (${workspace.baseSha.slice(0, 12)})`);

    await deps.runtime.ensureImage((line) => emit('output', `[sandbox image] ${line}`));
    signal.throwIfAborted();
    sandbox = await deps.runtime.create({
      sessionId: session.id,
      network: deps.sandbox.network,
      limits: deps.sandbox.limits,
    });
    context.onSandbox(sandbox);
    await sandbox.putArchive(sandbox.workspace, workspace.packForSandbox());
    signal.throwIfAborted();
    emit('output', 'Sandbox ready; the agent is starting');
    return { workspace, sandbox };
  } catch (error) {
    await releaseWorkspace({ sandbox, workspace }, deps.logger, session.id);
    throw error;
  }
}
