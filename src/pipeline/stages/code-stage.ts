import type { TokenUsage } from '../../model/session.js';
import { runAgentInSandbox } from '../../engine/run-agent-in-sandbox.js';
import { checkLimits } from '../pipeline.js';
import { renderPrompt } from '../prompt-templates.js';
import type { PipelineStage, StageContext } from '../stage.js';
import { planText, stepText } from './plan-stage.js';

/**
 * The coding agent does the step in the sandbox. Its turns count toward the session's turn limit:
 * each run gets only the turns the session has left.
 */
export class CodeStage implements PipelineStage {
  readonly name = 'code';

  async run(context: StageContext): Promise<void> {
    const { session, state, step, budget, limits } = context;
    context.progress('coding');
    const feedback = step.feedback;
    step.feedback = undefined;
    // The agent alone (no plan, one step, no feedback) gets the task as it was asked, as before
    // the pipeline existed; otherwise the code template, with the untrusted parts fenced.
    const prompt =
      !step.plan && !feedback && state.steps.length === 1
        ? session.prompt
        : renderPrompt(
            'code',
            { repo: session.repo },
            { task: session.prompt, step: stepText(step), plan: planText(step.plan), feedback: feedback ?? 'none' },
          );
    const llm = context.llmFor(this.name);
    const turnsLeft = Math.max(1, limits.maxTurns - budget.totals().turns);
    let booked: TokenUsage = { inputTokens: 0, outputTokens: 0, turns: 0 };
    const run = runAgentInSandbox(
      { agent: context.agent, llm, sandboxLimits: context.sandboxLimits, agentLimits: { maxTurns: turnsLeft, commandTimeoutMs: limits.commandTimeoutMs } },
      {
        sandbox: context.sandbox,
        prompt,
        instructions: [context.agentInstructions, state.setupProblem].filter(Boolean).join('\n\n') || undefined,
        signal: context.signal,
        emit: context.emit,
        // The agent reports its run's totals so far; the budget wants what is new since last time.
        onUsage: (usage) => {
          const delta = {
            inputTokens: usage.inputTokens - booked.inputTokens,
            outputTokens: usage.outputTokens - booked.outputTokens,
          };
          const turns = usage.turns - booked.turns;
          if (delta.inputTokens === 0 && delta.outputTokens === 0 && turns === 0) return;
          booked = { ...usage };
          context.recordLLM(this.name, llm.model, delta, turns);
        },
        // An external agent's requests, each with the model that served it; they count toward the
        // run's totals too, so the totals it reports at the end add nothing twice.
        onRequestUsage: (request) => {
          booked = {
            inputTokens: booked.inputTokens + request.inputTokens,
            outputTokens: booked.outputTokens + request.outputTokens,
            turns: booked.turns + 1,
          };
          context.recordLLM(this.name, request.model, request, 1);
        },
        spendingRefusal: () => budget.exceeded(),
      },
    );
    try {
      step.summary = (await run).summary;
    } catch (error) {
      // The agent ran out of the session's turns: that is the turn budget, not a broken agent.
      if (!context.signal.aborted) checkLimits(budget, limits.maxTurns);
      throw error;
    }
  }
}
