import type { CodingAgent } from '../agent/coding-agent.js';
import type { GitWorkspace } from '../git/git-workspace.js';
import type { GitProvider } from '../gitprovider/provider.js';
import type { LLMClient } from '../llm/client.js';
import type { Logger } from '../logger.js';
import type { Session, SessionEventType, SessionResult, TokenUsage } from '../model/session.js';
import { Budget, type BudgetLimits } from '../pipeline/budget.js';
import { usageOf, type Pipeline } from '../pipeline/pipeline.js';
import { priceTable, type PriceTable } from '../pipeline/pricing.js';
import type { StageLimits } from '../pipeline/stage.js';
import type { Runtime, Sandbox, SandboxLimits } from '../sandbox/runtime.js';
import { deliverChange } from './deliver-change.js';
import { prepareWorkspace, releaseWorkspace } from './prepare-workspace.js';
import { agentInstructions, readProjectInstructions } from './project-instructions.js';
import { commitMessage, pullRequestBody, pullRequestTitle } from './pull-request-text.js';

export { describeSandboxExit } from './run-agent-in-sandbox.js';

export interface RunTaskDeps {
  runtime: Runtime;
  provider: GitProvider;
  agent: CodingAgent;
  llm: LLMClient;
  logger: Logger;
  workspacesDir: string;
  sandbox: { network: string; limits: SandboxLimits };
  agentLimits: { maxTurns: number; commandTimeoutMs: number };
  /** The stages a task goes through. */
  pipeline: Pipeline;
  /** The client for a stage (planner and reviewer models where configured). */
  llmFor(stage: string): LLMClient;
  limits: Omit<StageLimits, 'commandTimeoutMs' | 'maxTurns'>;
  budget: Pick<BudgetLimits, 'maxTokens' | 'maxCostUsd'>;
  /** TELECODER_PRICES overrides. */
  prices: PriceTable;
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
  /** A budget stopped the work early: the session ends as an error with this reason, its result kept. */
  stoppedBy?: string;
}

/**
 * One task from repository to pull request: clone on the server, copy into a fresh sandbox, let
 * the agent work, bring the change back as a patch, commit and push from the server's own clone,
 * open the pull request. The sandbox and the clone are always removed, whatever happens.
 */
export async function runTask(deps: RunTaskDeps, context: RunTaskContext): Promise<RunTaskOutcome> {
  const { session, signal, emit } = context;
  const { revision } = session.options;
  let sandbox: Sandbox | undefined;
  let workspace: GitWorkspace | undefined;
  try {
    ({ sandbox, workspace } = await prepareWorkspace(deps, context));
    const project = await readProjectInstructions(workspace);
    if (project) emit('output', `Following the repository's ${project.file}`);

    const budget = new Budget({ limits: deps.budget, prices: priceTable(deps.prices) });
    const outcome = await deps.pipeline.run({
      session,
      sandbox,
      sandboxLimits: deps.sandbox.limits,
      workspace: { baseSha: workspace.baseSha, baseBranch: workspace.baseBranch },
      llmFor: (stage) => deps.llmFor(stage),
      agent: deps.agent,
      agentInstructions: agentInstructions(project, session.options),
      budget,
      signal,
      emit,
      limits: { ...deps.limits, maxTurns: deps.agentLimits.maxTurns, commandTimeoutMs: deps.agentLimits.commandTimeoutMs },
      onUsage: (usage) => context.recordUsage(usage),
    });
    const warning = budget.costLimitWarning();
    if (warning) emit('output', `Note: ${warning}`);
    const { summary, stoppedBy } = outcome;
    const usage = usageOf(outcome.usage);
    const stopped = stoppedBy ? { stoppedBy } : {};
    signal.throwIfAborted();

    const delivered = await deliverChange({
      session,
      sandbox,
      workspace,
      provider: deps.provider,
      signal,
      emit,
      commitMessage: commitMessage(session),
      // A revision's push updates its pull request; a task opens one.
      pullRequest: (changedFiles) =>
        revision
          ? null
          : {
              title: pullRequestTitle(session),
              body: pullRequestBody({ session, summary, changedFiles, usage, pipeline: outcome }),
              ...(session.options.draft ? { draft: true } : {}),
            },
    });
    if (!delivered.committed) {
      emit('output', 'The task changed no files; answering with text');
      return { result: { type: 'text', content: summary }, usage, ...stopped };
    }
    if (revision) {
      return {
        result: { type: 'pr', content: summary, prUrl: revision.prUrl, prNumber: revision.prNumber, branch: session.branch },
        usage,
        ...stopped,
      };
    }
    if (!delivered.pr) {
      return { result: { type: 'branch', content: summary, branch: session.branch }, usage, ...stopped };
    }
    const { pr } = delivered;
    return { result: { type: 'pr', content: summary, prUrl: pr.url, prNumber: pr.number, branch: session.branch }, usage, ...stopped };
  } finally {
    await releaseWorkspace({ sandbox, workspace }, deps.logger, session.id);
  }
}
