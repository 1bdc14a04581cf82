import { errorMessage } from '../../errors.js';
import { onBaseTree } from '../checkpoint.js';
import { detectChecks, resolveChecks } from '../detect-checks.js';
import { renderPrompt } from '../prompt-templates.js';
import { formatCheckResults, runChecks, type CheckResult } from '../run-checks.js';
import { STRUCTURED_TOOLS, VerifyVerdictSchema, type VerifyVerdict } from '../schemas.js';
import type { PipelineStage, StageContext } from '../stage.js';
import { askStage } from './ask-stage.js';
import { planText } from './plan-stage.js';

/** A real failure of the code: not a missing tool, not skipped after a failed setup. */
export function isRealFailure(result: CheckResult): boolean {
  return !result.passed && !result.missingTool && !result.skipped;
}

/**
 * Runs the project's checks (the repository's own commands when it configures them, else the
 * detected ones). Real failures go back to the code stage as feedback, up to
 * TELECODER_MAX_FIX_ATTEMPTS rounds; after that the step fails. Missing tools are reported, never
 * blamed on the code.
 *
 * Exit codes decide whether the checks passed: command output is untrusted and may claim
 * anything. When they fail, the verifier model reads the output and returns a structured verdict
 * naming each failure and its decisive lines, which leads the coder's next round; a verifier that
 * cannot answer in shape leaves the raw results as the feedback.
 */
export class VerifyStage implements PipelineStage {
  readonly name = 'verify';

  async run(context: StageContext): Promise<void> {
    const { session, sandbox, step, limits, signal } = context;
    context.progress('verifying');
    const { testCommands } = session.options;
    // The setup stage runs the repository's setupCommands once; without it, they run here first.
    const setupCommands = context.state.setup ? undefined : session.options.setupCommands;
    const detected = testCommands === undefined ? await detectChecks(sandbox, { signal }) : [];
    const planned = resolveChecks(detected, {
      ...(setupCommands ? { setupCommands } : {}),
      ...(testCommands ? { testCommands } : {}),
    });
    if (planned.length === 0) {
      step.checks = [];
      context.emit('output', 'No checks found to run (no test, lint or build command detected)');
      return;
    }
    context.emit('output', `Running ${planned.length} check(s): ${planned.map((check) => check.name).join(', ')}`);
    const results = await runChecks(sandbox, planned, {
      timeoutMsPerCheck: limits.commandTimeoutMs,
      signal,
      onCheck: (result) =>
        context.emit('output', `${result.passed ? '✅' : result.missingTool || result.skipped ? '⏭' : '❌'} ${result.name}${result.note ? ` (${result.note})` : ''}`),
    });
    step.checks = results;
    for (const result of results.filter((r) => r.missingTool)) {
      step.notes.push(`check \`${result.name}\` skipped: ${result.note ?? 'its tool is missing in the sandbox'}`);
    }
    if (!results.some(isRealFailure)) return;

    const verification = await this.#verdict(context, results);
    if (step.fixAttempts < limits.maxFixAttempts) {
      step.fixAttempts++;
      context.emit('output', `Checks failed; sending them back to the coder (fix attempt ${step.fixAttempts} of ${limits.maxFixAttempts})`);
      step.feedback = [
        "The project's checks failed after your change. Fix the code so they pass.",
        ...(verification ? [`The verifier's reading: ${verification.summary}\n${failuresText(verification)}`] : []),
        formatCheckResults(results),
      ].join('\n\n');
      context.state.repeatFrom = 'code';
      return;
    }
    step.status = 'failed';
    const failing = results.filter(isRealFailure);
    step.notes.push(`checks still failing after ${step.fixAttempts} fix attempt(s): ${failing.map((result) => result.name).join(', ')}`);
    context.emit('output', `Checks still fail after ${step.fixAttempts} fix attempt(s): ${failing.map((result) => result.name).join(', ')}; the change is kept and flagged`);
    await this.#compareWithBase(context, failing);
  }

  /**
   * Runs each failing check again on the base tree, in the same sandbox with the same installed
   * dependencies, so the pull request can say whether the change broke it or it was failing before.
   */
  async #compareWithBase(context: StageContext, failing: CheckResult[]): Promise<void> {
    const { sandbox, limits, signal, workspace } = context;
    context.emit('output', `Running ${failing.map((result) => result.name).join(', ')} on the base (${workspace.baseSha.slice(0, 12)}) to see whether it failed before the change`);
    let onBase: CheckResult[];
    try {
      onBase = await onBaseTree(
        sandbox,
        workspace.baseSha,
        () => runChecks(sandbox, failing, { timeoutMsPerCheck: limits.commandTimeoutMs, signal }),
        signal,
      );
    } catch (error) {
      if (signal.aborted || /could not put the agent's work back/.test(errorMessage(error))) throw error;
      context.emit('output', `Could not run the checks on the base tree (${errorMessage(error)}); whether they failed before is unknown`);
      for (const result of failing) result.before = 'unknown';
      return;
    }
    for (const result of failing) {
      const base = onBase.find((candidate) => candidate.command === result.command);
      result.before = !base || base.missingTool || base.skipped ? 'unknown' : base.passed ? 'passing' : 'failing';
      context.emit(
        'output',
        `${result.name}: ${result.before === 'failing' ? 'already failing before the change' : result.before === 'passing' ? 'passes on the base: broken by the change' : 'unknown on the base'}`,
      );
    }
  }

  async #verdict(context: StageContext, results: CheckResult[]): Promise<VerifyVerdict | undefined> {
    const { session, step } = context;
    const prompt = renderPrompt(
      'verify',
      {},
      {
        task: `${session.prompt}\n\nThis step: ${step.title}\n${step.description}`,
        plan: planText(step.plan),
        checks: formatCheckResults(results),
      },
    );
    const answer = await askStage(context, this.name, { prompt, schema: VerifyVerdictSchema, ...STRUCTURED_TOOLS.verify });
    if (!answer.ok) {
      context.emit('output', `Verifier unavailable (${answer.problem}); the raw check results go to the coder`);
      step.verification = undefined;
      return undefined;
    }
    // The exit codes already said the checks failed; a verdict that says otherwise is not believed.
    const verdict: VerifyVerdict = answer.value.passed ? { passed: false, summary: answer.value.summary, failures: [] } : answer.value;
    step.verification = verdict;
    context.emit('output', `Verifier: ${verdict.summary}`);
    return verdict;
  }
}

function failuresText(verdict: VerifyVerdict): string {
  return verdict.failures.map((failure) => `- ${failure.check}: ${failure.problem}`).join('\n');
}
