import type { CodingAgent } from '../agent/coding-agent.js';
import type { LLMClient } from '../llm/client.js';
import type { Session, SessionEventType } from '../model/session.js';
import type { Sandbox, SandboxLimits } from '../sandbox/runtime.js';
import type { Budget } from './budget.js';
import type { CheckResult } from './run-checks.js';
import type { Plan, ReviewVerdict, VerifyVerdict } from './schemas.js';
import type { SetupOutcome } from './setup/set-up-workspace.js';

export type StepProgress = 'planning' | 'coding' | 'verifying' | 'reviewing' | 'done' | 'failed';

export interface StepState {
  title: string;
  description: string;
  status: 'pending' | 'running' | 'done' | 'failed';
  plan?: Plan;
  /** The latest run of the checks. */
  checks?: CheckResult[];
  /** Verify failures or review objections for the next code round; consumed by the code stage. */
  feedback?: string;
  fixAttempts: number;
  revisionRounds: number;
  /** Every review verdict, in order; the last one is the one that counts. */
  reviews: ReviewVerdict[];
  /** The verifier's reading of the latest failing checks, when it gave one. */
  verification?: VerifyVerdict;
  /** What the agent said it did (or its answer). */
  summary?: string;
  /** Things people should know about this step (a stage that was unavailable, why it failed). */
  notes: string[];
}

export interface PipelineState {
  /** What the index stage learned about the repository ('' when it did not run). */
  repoContext: string;
  steps: StepState[];
  /** The step the per-step stages work on. */
  current: number;
  /** The sandbox commit the current step started from (the clone's base for the first step). */
  checkpoint: string;
  /** Set by a stage to send the step back to an earlier stage (e.g. verify → code). */
  repeatFrom?: string;
  /** Why the session stopped early (a budget), when it did. */
  stoppedBy?: string;
  /** What the setup stage did, when it ran. */
  setup?: SetupOutcome;
  /** Told to the agent when setup failed: what failed and that it may fix it. */
  setupProblem?: string;
}

export interface StageLimits {
  maxSubtasks: number;
  maxFixAttempts: number;
  maxRevisions: number;
  /** Per shell command (agent commands and checks). */
  commandTimeoutMs: number;
  /** Agent turns for the whole session. */
  maxTurns: number;
  /** All setup commands together (TELECODER_SETUP_TIMEOUT). */
  setupTimeoutMs: number;
}

export interface StageContext {
  session: Session;
  sandbox: Sandbox;
  sandboxLimits: SandboxLimits;
  workspace: { baseSha: string; baseBranch: string };
  /** The client for a stage: planner model for decompose/plan, reviewer model for review/verify. */
  llmFor(stage: string): LLMClient;
  agent: CodingAgent;
  /** Extra system instructions for the agent (AGENTS.md, the repository configuration). */
  agentInstructions?: string;
  budget: Budget;
  /** Aborted by a stop, a shutdown or the budget. */
  signal: AbortSignal;
  emit(type: SessionEventType, data: unknown): void;
  limits: StageLimits;
  state: PipelineState;
  /** The step being worked on (state.steps[state.current]). */
  readonly step: StepState;
  /** Records an LLM round trip made by a stage (the agent's turns are recorded for it). */
  recordLLM(stage: string, model: string, usage: { inputTokens: number; outputTokens: number }, turns?: number): void;
  /** Keeps the sandbox as its commit's workspace snapshot (only before the agent runs); absent when the runtime has none. */
  saveSnapshot?: (() => Promise<void>) | undefined;
  /** Emits the 'progress' event of the current step. */
  progress(status: StepProgress): void;
}

/** One stage of the pipeline. It reads and changes `context.state`, and emits its own events. */
export interface PipelineStage {
  readonly name: string;
  run(context: StageContext): Promise<void>;
}
