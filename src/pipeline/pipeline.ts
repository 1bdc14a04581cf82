import { errorMessage } from '../errors.js';
import type { TokenUsage } from '../model/session.js';
import { BudgetExceededError, type Budget, type BudgetTotals } from './budget.js';
import { commitCheckpoint } from './checkpoint.js';
import type { CheckResult } from './run-checks.js';
import type { Plan, ReviewVerdict } from './schemas.js';
import type { SetupOutcome } from './setup/set-up-workspace.js';
import type { PipelineStage, PipelineState, StageContext, StepProgress, StepState } from './stage.js';

/** What the pipeline is given; it adds the state, the current step and the usage bookkeeping. */
export type PipelineInput = Omit<StageContext, 'state' | 'step' | 'recordLLM' | 'progress' | 'signal'> & {
  /** The session's own signal (stop, shutdown); the budget's is combined with it for the stages. */
  signal: AbortSignal;
  /** The session's spend so far, after every LLM round trip. */
  onUsage(usage: TokenUsage): void;
};

export interface StepReport {
  title: string;
  status: '✅' | '❌';
  plan?: Plan;
  checks?: CheckResult[];
  /** The last review verdict. */
  review?: ReviewVerdict;
  attempts: { fixes: number; revisions: number };
  notes: string[];
}

export interface PipelineResult {
  summary: string;
  steps: StepReport[];
  /** What workspace setup did, when the setup stage ran. */
  setup?: SetupOutcome;
  usage: BudgetTotals;
  /** Why the session stopped before the end (a budget), when it did. */
  stoppedBy?: string;
}

/** A stage may send a step back at most this many times in all, whatever stages were plugged in. */
const MAX_REPEATS_PER_STEP = 20;

export function usageOf(totals: BudgetTotals): TokenUsage {
  return {
    inputTokens: totals.inputTokens,
    outputTokens: totals.outputTokens,
    turns: totals.turns,
    ...(totals.costUsd !== null ? { costUsd: totals.costUsd } : {}),
  };
}

/**
 * Throws once a limit is reached. Turns are checked here rather than by the Budget so that the
 * agent's own last turn (its `finish`) is never cut: the agent gets the turns that are left.
 */
export function checkLimits(budget: Budget, maxTurns: number): void {
  budget.check();
  const { turns } = budget.totals();
  if (turns >= maxTurns) {
    throw new BudgetExceededError(
      'turns',
      `the session used all its ${maxTurns} turns (TELECODER_MAX_TURNS); raise it or split the task`,
    );
  }
}

const TITLE_LENGTH = 100;

/** The task as a step title: its first line, cut (the whole task is the step's description). */
function shortTitle(text: string): string {
  const line = text.trim().split('\n')[0]?.trim() ?? '';
  return line.length > TITLE_LENGTH ? `${line.slice(0, TITLE_LENGTH - 1)}…` : line;
}

function newStep(title: string, description: string): StepState {
  return { title, description, status: 'pending', fixAttempts: 0, revisionRounds: 0, reviews: [], notes: [] };
}

/**
 * The task's stages: `setup` runs once (index, decompose), `perStep` for every step (plan, code,
 * verify, review). Immutable: the editing methods return a new Pipeline.
 */
export class Pipeline {
  readonly setup: readonly PipelineStage[];
  readonly perStep: readonly PipelineStage[];

  constructor(stages: { setup?: readonly PipelineStage[]; perStep: readonly PipelineStage[] }) {
    this.setup = [...(stages.setup ?? [])];
    this.perStep = [...stages.perStep];
    const names = this.names;
    const duplicate = names.find((name, index) => names.indexOf(name) !== index);
    if (duplicate) throw new Error(`the pipeline has two stages named "${duplicate}"; stage names must be unique`);
    if (this.perStep.length === 0) throw new Error('the pipeline needs at least one per-step stage (the code stage)');
  }

  get names(): string[] {
    return [...this.setup, ...this.perStep].map((stage) => stage.name);
  }

  replace(name: string, stage: PipelineStage): Pipeline {
    return this.#edit(name, (list, index) => list.splice(index, 1, stage));
  }

  remove(name: string): Pipeline {
    return this.#edit(name, (list, index) => list.splice(index, 1));
  }

  insertAfter(name: string, stage: PipelineStage): Pipeline {
    return this.#edit(name, (list, index) => list.splice(index + 1, 0, stage));
  }

  insertBefore(name: string, stage: PipelineStage): Pipeline {
    return this.#edit(name, (list, index) => list.splice(index, 0, stage));
  }

  #edit(name: string, change: (list: PipelineStage[], index: number) => void): Pipeline {
    const setup = [...this.setup];
    const perStep = [...this.perStep];
    const list = setup.some((stage) => stage.name === name) ? setup : perStep;
    const index = list.findIndex((stage) => stage.name === name);
    if (index === -1) throw new Error(`the pipeline has no stage "${name}"; it has ${this.names.join(', ')}`);
    change(list, index);
    return new Pipeline({ setup, perStep });
  }

  /**
   * Runs the stages in the sandbox. Every step's work is committed as a checkpoint, a failed
   * step's included (it is flagged, never thrown away), and the next steps still run. A budget that runs out
   * stops the run but keeps the work done so far (the caller delivers it). A stop or any other
   * error rejects.
   */
  async run(input: PipelineInput): Promise<PipelineResult> {
    const { budget, session } = input;
    const signal = AbortSignal.any([input.signal, budget.signal]);
    const state: PipelineState = { repoContext: '', steps: [], current: 0, checkpoint: input.workspace.baseSha };
    const context: StageContext = {
      ...input,
      signal,
      state,
      get step(): StepState {
        const step = state.steps[state.current];
        if (!step) throw new Error(`pipeline: there is no step ${state.current + 1}`);
        return step;
      },
      recordLLM: (stage, model, usage, turns) => {
        budget.record({ stage, model, usage, ...(turns !== undefined ? { turns } : {}) });
        input.onUsage(usageOf(budget.totals()));
      },
      progress: (status: StepProgress) => {
        const step = state.steps[state.current];
        input.emit('progress', { step: state.current + 1, total: state.steps.length, title: step?.title ?? '', status });
      },
    };

    try {
      for (const stage of this.setup) {
        checkLimits(budget, input.limits.maxTurns);
        await stage.run(context);
      }
      if (state.steps.length === 0) state.steps.push(newStep(shortTitle(session.options.title ?? session.prompt), session.prompt));
      // The sandbox holds a copy of the server's clone, so its HEAD is the clone's base: the first checkpoint.
      for (let index = 0; index < state.steps.length; index++) {
        checkLimits(budget, input.limits.maxTurns);
        state.current = index;
        await this.#runStep(context, input.signal);
      }
    } catch (error) {
      // The budget ran out: keep what was done, say why. Anything else (a stop included) rejects.
      const overBudget = error instanceof BudgetExceededError || budget.signal.aborted;
      if (input.signal.aborted || !overBudget) throw error;
      state.stoppedBy = budget.exceeded() ?? errorMessage(error instanceof BudgetExceededError ? error : budget.signal.reason);
      input.emit('output', `Stopping: ${state.stoppedBy}; the work done so far is delivered`);
      const step = state.steps[state.current];
      if (step && step.status === 'running') {
        step.status = 'failed';
        step.notes.push(`stopped by the budget: ${state.stoppedBy}`);
      }
      for (const later of state.steps.slice(state.current + 1)) later.notes.push('not started: the budget ran out');
    }
    return {
      summary: summaryOf(state.steps),
      steps: state.steps.map(reportOf),
      ...(state.setup ? { setup: state.setup } : {}),
      usage: budget.totals(),
      ...(state.stoppedBy ? { stoppedBy: state.stoppedBy } : {}),
    };
  }

  /** Checkpoints use the session's signal: a budget that ran out must not keep a step's work from being committed. */
  async #runStep(context: StageContext, signal: AbortSignal): Promise<void> {
    const { state, sandbox } = context;
    const step = context.step;
    const number = state.current + 1;
    context.emit('step', `Step ${number}/${state.steps.length}: ${step.title}`);
    step.status = 'running';
    let repeats = 0;
    for (let stageIndex = 0; stageIndex < this.perStep.length; ) {
      checkLimits(context.budget, context.limits.maxTurns);
      await this.perStep[stageIndex]!.run(context);
      if ((step.status as StepState['status']) === 'failed') break;
      const back = state.repeatFrom;
      state.repeatFrom = undefined;
      const target = back === undefined ? -1 : this.perStep.findIndex((stage) => stage.name === back);
      if (target !== -1 && target <= stageIndex && repeats < MAX_REPEATS_PER_STEP) {
        repeats++;
        stageIndex = target;
      } else {
        stageIndex++;
      }
    }
    const failed = (step.status as StepState['status']) === 'failed';
    if (failed) {
      // A failed step's change is kept and flagged (the pull request opens as a draft that says
      // what fails): throwing it away would hide work the user asked for.
      context.emit('output', `Step ${number} failed; its change is kept and flagged, and the next steps go on`);
    } else {
      step.status = 'done';
    }
    // The next step's review sees only its own change; after the last step the patch is taken as is.
    if (number < state.steps.length) state.checkpoint = await commitCheckpoint(sandbox, `step ${number}: ${step.title}`, signal);
    context.progress(failed ? 'failed' : 'done');
  }
}

function summaryOf(steps: readonly StepState[]): string {
  if (steps.length === 1) return steps[0]?.summary ?? '';
  return steps
    .map((step, index) => `${index + 1}. ${step.status === 'done' ? '✅' : '❌'} ${step.title}: ${step.summary ?? step.notes.at(-1) ?? '(no summary)'}`)
    .join('\n');
}

function reportOf(step: StepState): StepReport {
  return {
    title: step.title,
    status: step.status === 'done' ? '✅' : '❌',
    ...(step.plan ? { plan: step.plan } : {}),
    ...(step.checks ? { checks: step.checks } : {}),
    ...(step.reviews.length > 0 ? { review: step.reviews.at(-1)! } : {}),
    attempts: { fixes: step.fixAttempts, revisions: step.revisionRounds },
    notes: [...step.notes],
  };
}
