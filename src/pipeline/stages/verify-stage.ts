import { detectChecks, resolveChecks } from '../detect-checks.js';
import { formatCheckResults, runChecks, type CheckResult } from '../run-checks.js';
import type { PipelineStage, StageContext } from '../stage.js';

/** A real failure of the code: not a missing tool, not skipped after a failed setup. */
export function isRealFailure(result: CheckResult): boolean {
  return !result.passed && !result.missingTool && !result.skipped;
}

/**
 * Runs the project's checks (the repository's own commands when it configures them, else the
 * detected ones). Real failures go back to the code stage as feedback, up to
 * TELECODER_MAX_FIX_ATTEMPTS rounds; after that the step fails. Missing tools are reported, never
 * blamed on the code.
 */
export class VerifyStage implements PipelineStage {
  readonly name = 'verify';

  async run(context: StageContext): Promise<void> {
    const { session, sandbox, step, limits, signal } = context;
    context.progress('verifying');
    const { setupCommands, testCommands } = session.options;
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

    if (step.fixAttempts < limits.maxFixAttempts) {
      step.fixAttempts++;
      context.emit('output', `Checks failed; sending them back to the coder (fix attempt ${step.fixAttempts} of ${limits.maxFixAttempts})`);
      step.feedback = `The project's checks failed after your change. Fix the code so they pass.\n\n${formatCheckResults(results)}`;
      context.state.repeatFrom = 'code';
      return;
    }
    step.status = 'failed';
    step.notes.push(`checks still failing after ${step.fixAttempts} fix attempt(s)`);
    context.emit('output', `Checks still fail after ${step.fixAttempts} fix attempt(s); the step failed`);
  }
}
