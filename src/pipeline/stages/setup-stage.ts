import { setUpWorkspace, setupProblemText } from '../setup/set-up-workspace.js';
import type { PipelineStage, StageContext } from '../stage.js';

/**
 * Installs the project's dependencies before any other stage looks at the code, so the agent's
 * commands and the verify stage's checks run against a working project. A failure is recorded
 * for the pull request and handed to the agent, and the work goes on.
 */
export class SetupStage implements PipelineStage {
  readonly name = 'setup';

  async run(context: StageContext): Promise<void> {
    const { session, sandbox, signal, limits } = context;
    const outcome = await setUpWorkspace(sandbox, {
      setupCommands: session.options.setupCommands,
      timeoutMs: limits.setupTimeoutMs,
      signal,
      emit: context.emit,
      snapshot: { prepared: sandbox.workspacePrepared, save: context.saveSnapshot },
    });
    context.state.setup = outcome;
    const problem = setupProblemText(outcome);
    if (problem) {
      context.state.setupProblem = problem;
      context.emit('output', 'Setup failed; the agent is told and may fix it. The work goes on.');
    }
  }
}
