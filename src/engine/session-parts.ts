import { join } from 'node:path';
import type { AgentCatalogue } from '../agent/agent-catalogue.js';
import type { Config } from '../config/config.js';
import type { RepoMirrors } from '../git/repo-mirrors.js';
import type { GitProvider } from '../gitprovider/provider.js';
import type { LLMClient } from '../llm/client.js';
import type { Logger } from '../logger.js';
import type { Session } from '../model/session.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import type { Runtime, SandboxLimits, SandboxNetwork, WarmRequest } from '../sandbox/runtime.js';
import type { RunTaskDeps } from './run-task.js';
import { providerFor } from './validate-task-request.js';

/** Stages that ask the planner model; review and verify ask the reviewer model. */
const PLANNER_STAGES = new Set(['decompose', 'plan']);
const REVIEWER_STAGES = new Set(['review', 'verify']);

export type SessionPartsConfig = Pick<
  Config,
  'dataDir' | 'allowLocalRepos' | 'sandbox' | 'agent' | 'maxRevisions' | 'maxSubtasks' | 'pipeline' | 'allowWorkflowChanges' | 'change'
> & { llm: Pick<Config['llm'], 'plannerModel'> };

export interface SessionPartsOptions {
  config: SessionPartsConfig;
  runtime: Runtime;
  /** Asked in order; the first whose handles(repo) is true serves the repository. */
  providers: GitProvider[];
  /** The agents; each session runs the one it recorded. */
  agents: AgentCatalogue;
  /** The LLM client for a model (undefined: the configured default). */
  llm: (model?: string) => LLMClient;
  mirrors: RepoMirrors;
  pipeline: Pipeline;
}

/** The network and limits every session's sandbox gets. */
function sandboxShape(config: Pick<Config, 'sandbox'>): { network: SandboxNetwork; limits: SandboxLimits } {
  return {
    // The policy itself (which hosts) is the runtime's; `none` needs no network at all.
    network: config.sandbox.egress === 'none' ? 'none' : 'egress',
    limits: {
      memoryBytes: config.sandbox.memoryBytes,
      cpus: config.sandbox.cpus,
      pids: config.sandbox.pids,
      wallClockMs: config.sandbox.wallClockMs,
      diskBytes: config.sandbox.diskBytes,
    },
  };
}

/**
 * The sandbox a session of `repo` would ask for, before its commit is known: what the runtime's
 * warm pool makes ahead of time for the repositories used last.
 */
export function warmRequestFor(config: Pick<Config, 'sandbox'>, repo: string): WarmRequest {
  return { ...sandboxShape(config), ...(config.sandbox.dependencyCache ? { cache: { repo } } : {}) };
}

/** What one session runs with: its parts and limits, from the configuration and the session. */
export type SessionParts = (session: Session, logger: Logger) => RunTaskDeps;

/**
 * Turns the configuration into what each session runs with. The builder makes it, so the engine
 * deals in parts (a runtime, a provider, limits), never in settings.
 */
export function sessionParts(options: SessionPartsOptions): SessionParts {
  const { config } = options;
  return (session, logger) => ({
    runtime: options.runtime,
    provider: providerFor(session.repo, options.providers, config.allowLocalRepos),
    agent: options.agents.agentFor(session.agent),
    llm: options.llm(session.model ?? undefined),
    logger,
    workspacesDir: join(config.dataDir, 'workspaces'),
    mirrors: options.mirrors,
    dependencyCache: config.sandbox.dependencyCache,
    snapshotMinFiles: config.sandbox.snapshotMinFiles,
    change: config.change,
    sandbox: sandboxShape(config),
    agentLimits: { maxTurns: config.agent.maxTurns, commandTimeoutMs: config.agent.commandTimeoutMs },
    pipeline: options.pipeline,
    llmFor: (stage) => {
      const model = PLANNER_STAGES.has(stage)
        ? config.llm.plannerModel
        : REVIEWER_STAGES.has(stage)
          ? config.pipeline.reviewerModel
          : undefined;
      return options.llm(model ?? session.model ?? undefined);
    },
    limits: {
      maxSubtasks: config.maxSubtasks,
      maxFixAttempts: config.pipeline.maxFixAttempts,
      setupTimeoutMs: config.pipeline.setupTimeoutMs,
      // A repository's own configuration may ask for more or fewer review rounds.
      maxRevisions: session.options.maxRevisions ?? config.maxRevisions,
    },
    budget: {
      ...(config.pipeline.maxTokens !== undefined ? { maxTokens: config.pipeline.maxTokens } : {}),
      ...(config.pipeline.maxCostUsd !== undefined ? { maxCostUsd: config.pipeline.maxCostUsd } : {}),
    },
    prices: config.pipeline.prices,
    allowWorkflowChanges: config.allowWorkflowChanges,
  });
}
