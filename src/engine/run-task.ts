import type { CodingAgent } from '../agent/coding-agent.js';
import type { ChangeLimits } from '../git/change-limits.js';
import type { GitWorkspace } from '../git/git-workspace.js';
import { workflowChangesAllowed } from '../git/held-back-paths.js';
import type { RepoMirrors } from '../git/repo-mirrors.js';
import type { GitProvider } from '../gitprovider/provider.js';
import type { LLMClient } from '../llm/client.js';
import type { Logger } from '../logger.js';
import type { Session, SessionEventType, SessionResult, TokenUsage } from '../model/session.js';
import { Budget, type BudgetLimits } from '../pipeline/budget.js';
import { usageOf, type Pipeline } from '../pipeline/pipeline.js';
import { priceTable, type PriceTable } from '../pipeline/pricing.js';
import type { StageLimits } from '../pipeline/stage.js';
import type { Runtime, Sandbox, SandboxLimits, SandboxNetwork } from '../sandbox/runtime.js';
import { deliverChange } from './deliver-change.js';
import { heldBackOnlyMessage, heldBackWarning } from './held-back-text.js';
import { prepareWorkspace, releaseWorkspace } from './prepare-workspace.js';
import { agentInstructions } from './project-instructions.js';
import { commitMessage, pullRequestBody, pullRequestTitle } from './pull-request-text.js';
import { needsFlag, problemsOf, problemsSentence } from './work-problems.js';

/** The task asked for a change and none could be delivered: the session ends as an error. */
export class UndeliveredWorkError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UndeliveredWorkError';
  }
}

/** The result's text: where the work is and, plainly first, what is wrong with it. */
function withWarning(where: string, problem: string | undefined, summary: string): string {
  if (!problem) return summary;
  const head = `${where}, but ${problem}.`;
  return summary.trim() ? `${head}\n\n${summary.trim()}` : head;
}

export { describeSandboxExit } from './run-agent-in-sandbox.js';

export interface RunTaskDeps {
  runtime: Runtime;
  provider: GitProvider;
  agent: CodingAgent;
  llm: LLMClient;
  logger: Logger;
  workspacesDir: string;
  mirrors: RepoMirrors;
  sandbox: { network: SandboxNetwork; limits: SandboxLimits };
  dependencyCache: boolean;
  snapshotMinFiles: number;
  /** TELECODER_MAX_CHANGE_SIZE / _FILES: what the agent's change may expand to. */
  change: ChangeLimits;
  agentLimits: { maxTurns: number; commandTimeoutMs: number };
  /** The stages a task goes through. */
  pipeline: Pipeline;
  /** The client for a stage (planner and reviewer models where configured). */
  llmFor(stage: string): LLMClient;
  limits: Omit<StageLimits, 'commandTimeoutMs' | 'maxTurns'>;
  budget: Pick<BudgetLimits, 'maxTokens' | 'maxCostUsd'>;
  /** TELECODER_PRICES overrides. */
  prices: PriceTable;
  /** TELECODER_ALLOW_WORKFLOW_CHANGES (a repository may also allow them in its configuration). */
  allowWorkflowChanges: boolean;
}

export interface RunTaskContext {
  session: Session;
  signal: AbortSignal;
  emit(type: SessionEventType, data: unknown): void;
  recordUsage(usage: TokenUsage): void;
  /** Lets the engine kill the sandbox at once when the session is stopped. */
  onSandbox(sandbox: Sandbox): void;
  /** Keeps the readable diff of what was delivered (see deliverChange). */
  recordDiff?(diff: string): void;
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
  let clone: Promise<GitWorkspace> | undefined;
  try {
    const prepared = await prepareWorkspace(deps, context);
    ({ sandbox, clone } = prepared);
    const { runtime } = deps;
    const { base, project, repo } = prepared;
    const ready = { sandbox, commit: base.sha };
    const saveSnapshot = runtime.snapshotSandbox ? () => runtime.snapshotSandbox!(ready.sandbox, { repo, commit: ready.commit }) : undefined;
    if (project) emit('output', `Following the repository's ${project.file}`);

    const budget = new Budget({ limits: deps.budget, prices: priceTable(deps.prices) });
    const outcome = await deps.pipeline.run({
      session,
      sandbox,
      sandboxLimits: deps.sandbox.limits,
      workspace: { baseSha: base.sha, baseBranch: base.branch },
      saveSnapshot,
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
    const problems = problemsOf(outcome);
    const flagged = needsFlag(problems);
    const problemText = problemsSentence(problems);
    signal.throwIfAborted();

    const delivered = await deliverChange({
      session,
      sandbox,
      workspace: await clone,
      provider: deps.provider,
      signal,
      emit,
      commitMessage: commitMessage(session),
      allowWorkflowChanges: workflowChangesAllowed({ server: deps.allowWorkflowChanges, repository: session.options.allowWorkflowChanges }),
      ...(context.recordDiff ? { recordDiff: context.recordDiff } : {}),
      // A revision's push updates its pull request; a task opens one (a draft when the work is
      // flagged, or when workflow changes were held back and a person has to add them).
      pullRequest: (changedFiles, heldBack) =>
        revision
          ? null
          : {
              title: pullRequestTitle(session),
              body: pullRequestBody({ session, summary, changedFiles, usage, pipeline: outcome, heldBack }),
              ...(session.options.draft || flagged || heldBack.length > 0 ? { draft: true } : {}),
            },
    });
    const { heldBack } = delivered;
    if (!delivered.committed) {
      // Held back was all there was: ending `complete` with a text answer would hide the change.
      if (heldBack.length > 0) throw new UndeliveredWorkError(heldBackOnlyMessage(heldBack));
      // Nothing to deliver. For a question that is the answer; for work that failed or was cut
      // short, a text answer would hide that the change the user asked for does not exist.
      const undelivered = stoppedBy ?? (flagged ? problemText ?? 'a step failed' : undefined);
      if (undelivered) throw new UndeliveredWorkError(`the task produced no change to deliver: ${undelivered}`);
      if (delivered.leftOut.length > 0) {
        throw new UndeliveredWorkError(
          `the agent's changes were all to files the repository ignores or to installed dependencies ` +
            `(${delivered.leftOut.slice(0, 5).join(', ')}${delivered.leftOut.length > 5 ? ', …' : ''}), so there is nothing to deliver`,
        );
      }
      emit('output', 'The task changed no files; answering with text');
      return { result: { type: 'text', content: summary }, usage, ...(stoppedBy ? { stoppedBy } : {}) };
    }
    // Where a person finds the held-back files' content: a new pull request shows it in its body.
    const heldBackNote =
      heldBack.length > 0
        ? heldBackWarning(heldBack, delivered.pr ? 'the pull request body shows them' : "their content is in the session's events")
        : undefined;
    const warnings = [problemText, heldBackNote].filter((text): text is string => text !== undefined);
    const resultWarning = warnings.length > 0 ? warnings.join('; also, ') : undefined;
    const held = heldBack.length > 0 ? { heldBack: heldBack.map((file) => file.path) } : {};
    const flags = {
      ...(flagged && problems.failingChecks.length > 0 ? { failingChecks: problems.failingChecks } : {}),
      ...(resultWarning ? { warning: resultWarning } : {}),
      ...held,
    };
    const stopped = stoppedBy ? { stoppedBy } : {};
    if (revision) {
      const content = withWarning(`Pushed to pull request #${revision.prNumber}`, resultWarning, summary);
      return {
        result: { type: 'pr', content, prUrl: revision.prUrl, prNumber: revision.prNumber, branch: session.branch, ...flags },
        usage,
        ...stopped,
      };
    }
    if (!delivered.pr) {
      const content = withWarning(`Pushed to branch ${session.branch}`, resultWarning, summary);
      return { result: { type: 'branch', content, branch: session.branch, ...flags }, usage, ...stopped };
    }
    const { pr } = delivered;
    const draft = Boolean(session.options.draft || flagged || heldBack.length > 0);
    const content = withWarning(`Pull request #${pr.number} is open${draft ? ' as a draft' : ''}`, resultWarning, summary);
    return {
      result: { type: 'pr', content, prUrl: pr.url, prNumber: pr.number, branch: session.branch, ...(draft ? { draft } : {}), ...flags },
      usage,
      ...stopped,
    };
  } finally {
    await releaseWorkspace({ sandbox, clone }, deps.logger, session.id);
  }
}
