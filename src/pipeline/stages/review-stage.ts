import { diffSince } from '../checkpoint.js';
import { renderPrompt } from '../prompt-templates.js';
import { formatCheckResults } from '../run-checks.js';
import { ReviewVerdictSchema, STRUCTURED_TOOLS, type ReviewVerdict } from '../schemas.js';
import type { PipelineStage, StageContext } from '../stage.js';
import { askStage } from './ask-stage.js';
import { planText } from './plan-stage.js';

/** The reviewer sees at most this much of the diff; the rest is said to be cut. */
export const MAX_REVIEW_DIFF_CHARS = 40_000;

export function objectionsText(review: ReviewVerdict): string {
  return review.objections
    .map((objection) => `- ${objection.file ? `${objection.file}: ` : ''}${objection.problem}${objection.suggestion ? ` (suggestion: ${objection.suggestion})` : ''}`)
    .join('\n');
}

/**
 * Reviews the step's diff against the task and the plan. Changes requested go back to the code
 * stage, up to TELECODER_MAX_REVISIONS rounds; after that the step stands and the objections go
 * into the pull request. A reviewer that cannot answer in shape is noted, never fatal.
 */
export class ReviewStage implements PipelineStage {
  readonly name = 'review';

  async run(context: StageContext): Promise<void> {
    const { session, step, state, limits } = context;
    const diff = await diffSince(context.sandbox, state.checkpoint, MAX_REVIEW_DIFF_CHARS, context.signal);
    if (diff.trim() === '') {
      context.emit('output', 'Nothing changed in this step; no review needed');
      return;
    }
    context.progress('reviewing');
    const prompt = renderPrompt(
      'review',
      {},
      {
        task: `${session.prompt}\n\nThis step: ${step.title}\n${step.description}`,
        plan: planText(step.plan),
        diff,
        checks: step.checks ? formatCheckResults(step.checks) : 'The checks were not run.',
      },
    );
    const answer = await askStage(context, this.name, { prompt, schema: ReviewVerdictSchema, ...STRUCTURED_TOOLS.review });
    if (!answer.ok) {
      step.notes.push('review unavailable: the reviewer gave no usable answer');
      context.emit('output', `Review unavailable (${answer.problem}); the step goes on unreviewed`);
      return;
    }
    const review = answer.value;
    step.reviews.push(review);
    if (review.verdict === 'approve') {
      context.emit('output', `Review: approved. ${review.summary}`);
      return;
    }
    const objections = objectionsText(review);
    if (step.revisionRounds < limits.maxRevisions) {
      step.revisionRounds++;
      context.emit('output', `Review: changes requested (round ${step.revisionRounds} of ${limits.maxRevisions}):\n${objections}`);
      step.feedback = `A reviewer asked for changes to your work on this step. Address every objection.\n\n${review.summary}\n\n${objections}`;
      state.repeatFrom = 'code';
      return;
    }
    step.notes.push('review objections remain (no revision rounds left)');
    context.emit('output', `Review: changes still requested, but no revision rounds are left; the pull request lists the objections:\n${objections}`);
  }
}
