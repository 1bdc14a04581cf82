import { renderPrompt } from '../prompt-templates.js';
import { decompositionSchema, STRUCTURED_TOOLS } from '../schemas.js';
import type { PipelineStage, StageContext } from '../stage.js';
import { askStage } from './ask-stage.js';

export class DecomposeStage implements PipelineStage {
  readonly name = 'decompose';

  async run(context: StageContext): Promise<void> {
    const { session, limits, state } = context;
    const prompt = renderPrompt(
      'decompose',
      { repo: session.repo, maxSubtasks: String(limits.maxSubtasks) },
      { task: session.prompt, context: state.repoContext || 'Nothing: the repository was not indexed.' },
    );
    const answer = await askStage(context, this.name, {
      prompt,
      schema: decompositionSchema(limits.maxSubtasks),
      ...STRUCTURED_TOOLS.decompose,
    });
    if (!answer.ok) {
      context.emit('output', `Could not split the task (${answer.problem}); doing it as one step`);
      return;
    }
    state.steps = answer.value.steps.map((step) => ({
      title: step.title,
      description: step.description,
      status: 'pending',
      fixAttempts: 0,
      revisionRounds: 0,
      reviews: [],
      notes: [],
    }));
    context.emit(
      'output',
      state.steps.length === 1 ? 'The task is done as one step' : `The task is split into ${state.steps.length} steps:\n${state.steps.map((step, i) => `${i + 1}. ${step.title}`).join('\n')}`,
    );
  }
}
