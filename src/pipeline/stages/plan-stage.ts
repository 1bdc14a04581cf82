import { renderPrompt } from '../prompt-templates.js';
import { PlanSchema, STRUCTURED_TOOLS, type Plan } from '../schemas.js';
import type { PipelineStage, StageContext, StepState } from '../stage.js';
import { askStage } from './ask-stage.js';

export function stepText(step: Pick<StepState, 'title' | 'description'>): string {
  return `${step.title}\n\n${step.description}`;
}

export function planText(plan: Plan | undefined): string {
  if (!plan) return 'No plan: work it out from the step and the code.';
  return [
    `Files: ${plan.files.length > 0 ? plan.files.join(', ') : '(none named)'}`,
    `Approach: ${plan.approach}`,
    `Testing: ${plan.testing}`,
    `Risks: ${plan.risks.length > 0 ? plan.risks.map((risk) => `\n- ${risk}`).join('') : 'none named'}`,
  ].join('\n');
}

export class PlanStage implements PipelineStage {
  readonly name = 'plan';

  async run(context: StageContext): Promise<void> {
    const { session, state, step } = context;
    // A step sent back for fixes keeps its plan.
    if (step.plan) return;
    context.progress('planning');
    const prompt = renderPrompt(
      'plan',
      { repo: session.repo },
      { task: session.prompt, step: stepText(step), context: state.repoContext || 'Nothing: the repository was not indexed.' },
    );
    const answer = await askStage(context, this.name, { prompt, schema: PlanSchema, ...STRUCTURED_TOOLS.plan });
    if (!answer.ok) {
      step.notes.push('no plan: the planner gave no usable answer');
      context.emit('output', `No plan for "${step.title}" (${answer.problem}); the coder goes on without one`);
      return;
    }
    step.plan = answer.value;
    context.emit('output', `Plan for "${step.title}":\n${planText(step.plan)}`);
  }
}
