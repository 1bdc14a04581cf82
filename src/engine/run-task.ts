import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { CodingAgent } from '../agent/coding-agent.js';
import { GitWorkspace } from '../git/git-workspace.js';
import { extractPatch } from '../git/sandbox-patch.js';
import type { GitProvider } from '../gitprovider/provider.js';
import type { LLMClient } from '../llm/client.js';
import type { Logger } from '../logger.js';
import type { Session, SessionEventType, SessionResult, TokenUsage } from '../model/session.js';
import type { Runtime, Sandbox, SandboxExit, SandboxLimits } from '../sandbox/runtime.js';
import { commitMessage, pullRequestBody, pullRequestTitle } from './pull-request-text.js';

export interface RunTaskDeps {
  runtime: Runtime;
  provider: GitProvider;
  agent: CodingAgent;
  llm: LLMClient;
  logger: Logger;
  workspacesDir: string;
  sandbox: { network: string; limits: SandboxLimits };
  agentLimits: { maxTurns: number; commandTimeoutMs: number };
}

export interface RunTaskContext {
  session: Session;
  signal: AbortSignal;
  emit(type: SessionEventType, data: unknown): void;
  recordUsage(usage: TokenUsage): void;
  /** Lets the engine kill the sandbox at once when the session is stopped. */
  onSandbox(sandbox: Sandbox): void;
}

export interface RunTaskOutcome {
  result: SessionResult;
  usage: TokenUsage;
}

const EMPTY_USAGE: TokenUsage = { inputTokens: 0, outputTokens: 0, turns: 0 };

export function describeSandboxExit(exit: SandboxExit, limits: SandboxLimits): string {
  switch (exit.reason) {
    case 'oom':
      return `the sandbox ran out of memory (limit ${Math.round(limits.memoryBytes / 2 ** 20)} MiB) and was killed; raise TELECODER_SANDBOX_MEMORY if the task needs more`;
    case 'wall-clock':
      return `the sandbox reached its wall-clock limit of ${Math.round(limits.wallClockMs / 1000)} s and was killed; raise TELECODER_SANDBOX_TIMEOUT for longer tasks`;
    case 'killed':
    case 'removed':
      return 'the sandbox container was killed or removed while the task was running';
    default:
      return `the sandbox stopped unexpectedly (exit code ${exit.exitCode})`;
  }
}

/**
 * One task from repository to pull request: clone on the server, copy into a fresh sandbox, let
 * the agent work, bring the change back as a patch, commit and push from the server's own clone,
 * open the pull request. The sandbox and the clone are always removed, whatever happens.
 */
export async function runTask(deps: RunTaskDeps, context: RunTaskContext): Promise<RunTaskOutcome> {
  const { session, signal, emit } = context;
  let usage = EMPTY_USAGE;
  let sandbox: Sandbox | undefined;
  let workspace: GitWorkspace | undefined;
  try {
    emit('output', `Preparing ${session.repo}`);
    const access = await deps.provider.access(session.repo, signal);
    await mkdir(deps.workspacesDir, { recursive: true, mode: 0o700 });
    workspace = await GitWorkspace.clone({
      access,
      dir: join(deps.workspacesDir, session.id),
      branch: session.branch,
      ...(access.defaultBranch ? { baseBranch: access.defaultBranch } : {}),
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

    const died = sandbox.exited.then((exit) => {
      throw new Error(describeSandboxExit(exit, deps.sandbox.limits));
    });
    // The agent's own promise is awaited through the race; keep a rejection of the loser quiet.
    died.catch(() => undefined);
    const agentRun = deps.agent.run({
      sandbox,
      llm: deps.llm,
      prompt: session.prompt,
      maxTurns: deps.agentLimits.maxTurns,
      commandTimeoutMs: deps.agentLimits.commandTimeoutMs,
      signal,
      onEvent: (type, data) => {
        if (type === 'usage') {
          usage = data as TokenUsage;
          context.recordUsage(usage);
        } else {
          emit(type, data);
        }
      },
    });
    agentRun.catch(() => undefined);
    const { summary, usage: finalUsage } = await Promise.race([agentRun, died]);
    usage = finalUsage;
    context.recordUsage(usage);
    signal.throwIfAborted();

    const patch = await extractPatch(sandbox, workspace.baseSha);
    const { changedFiles } = await workspace.applyPatch(patch);
    if (changedFiles.length === 0) {
      emit('output', 'The task changed no files; answering with text');
      return { result: { type: 'text', content: summary }, usage };
    }
    emit('output', `Committing ${changedFiles.length} changed file(s)`);
    await workspace.commit({ message: commitMessage(session) });
    signal.throwIfAborted();

    // Fresh access: short-lived tokens may have expired while the agent worked.
    const pushAccess = await deps.provider.access(session.repo, signal);
    await workspace.push({ access: pushAccess, branch: session.branch });
    emit('output', `Pushed ${session.branch}`);

    const pr = await deps.provider.openPullRequest(
      {
        repo: session.repo,
        head: session.branch,
        base: workspace.baseBranch,
        title: pullRequestTitle(session.prompt),
        body: pullRequestBody({ session, summary, changedFiles, usage }),
      },
      signal,
    );
    if (!pr) {
      return { result: { type: 'branch', content: summary, branch: session.branch }, usage };
    }
    return { result: { type: 'pr', content: summary, prUrl: pr.url, prNumber: pr.number, branch: session.branch }, usage };
  } finally {
    await Promise.allSettled([sandbox?.destroy(), workspace?.remove()]).then((settled) => {
      for (const outcome of settled) {
        if (outcome.status === 'rejected') deps.logger.warn({ err: outcome.reason, session: session.id }, 'cleanup failed');
      }
    });
  }
}
