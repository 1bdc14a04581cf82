/**
 * The structured answers the pipeline's stages ask the model for. Each schema is both the
 * validator of the answer and, through `z.toJSONSchema`, the tool's parameters the model sees, so
 * the `describe()` texts are written for the model.
 */
import { z } from 'zod';

const text = (description: string) => z.string().trim().min(1).describe(description);

/** Optional text that also accepts null: weak models often send null for a field they leave out. */
const optionalText = (description: string) =>
  z
    .string()
    .trim()
    .min(1)
    .nullish()
    .transform((value) => value ?? undefined)
    .describe(description);

export const DEFAULT_MAX_SUBTASKS = 5;

export function decompositionSchema(maxSubtasks: number = DEFAULT_MAX_SUBTASKS) {
  if (!Number.isInteger(maxSubtasks) || maxSubtasks < 1) {
    throw new Error(`decompositionSchema: maxSubtasks must be a whole number of at least 1, got ${maxSubtasks}`);
  }
  return z.object({
    steps: z
      .array(
        z.object({
          title: text('A short imperative title, e.g. "Add the /health route".'),
          description: text(
            'What this step changes and why, specific enough for an engineer who has not read the other steps.',
          ),
        }),
      )
      .min(1)
      .max(maxSubtasks)
      .describe(`The steps in the order they must be done: at least 1, at most ${maxSubtasks}.`),
  });
}
export type Decomposition = z.infer<ReturnType<typeof decompositionSchema>>;

export const PlanSchema = z.object({
  files: z
    .array(z.string().trim().min(1))
    .describe('Paths, relative to the repository root, of the files to create or change.'),
  approach: text('How the change will be made: the concrete edits, in order, and the reasoning behind them.'),
  testing: text('How the change will be checked: tests to add or run, and the commands that run them.'),
  risks: z
    .array(z.string().trim().min(1))
    .describe('What could go wrong or is uncertain, each with how it will be handled; empty if nothing.'),
});
export type Plan = z.infer<typeof PlanSchema>;

export const ReviewVerdictSchema = z
  .object({
    verdict: z
      .enum(['approve', 'request_changes'])
      .describe('"approve" when the diff does the task correctly and safely; otherwise "request_changes".'),
    summary: text('Two or three sentences: what the diff does and the overall judgement.'),
    objections: z
      .array(
        z.object({
          file: optionalText('The file the objection is about, relative to the repository root.'),
          problem: text('What is wrong, concretely: the code, the behaviour, and why it matters.'),
          suggestion: optionalText('How to fix it.'),
        }),
      )
      .describe('Concrete problems that must be fixed; empty when approving.'),
  })
  .superRefine((review, ctx) => {
    if (review.verdict === 'request_changes' && review.objections.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['objections'],
        message: 'verdict "request_changes" needs at least one concrete objection; approve if there is none',
      });
    }
  });
export type ReviewVerdict = z.infer<typeof ReviewVerdictSchema>;

export const VerifyVerdictSchema = z
  .object({
    passed: z.boolean().describe('true only when every check succeeded and nothing in the output shows a failure.'),
    summary: text('One or two sentences on what the checks showed.'),
    failures: z
      .array(
        z.object({
          check: text('The check that failed, e.g. the command or the test name.'),
          problem: text('What failed, quoting the decisive lines of the output.'),
        }),
      )
      .describe('Every failing check; empty when passed is true.'),
  })
  .superRefine((verdict, ctx) => {
    if (!verdict.passed && verdict.failures.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['failures'], message: 'passed is false, so list at least one failure' });
    }
    if (verdict.passed && verdict.failures.length > 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['passed'],
        message: `passed is true but failures lists ${verdict.failures.length}; set passed to false or empty failures`,
      });
    }
  });
export type VerifyVerdict = z.infer<typeof VerifyVerdictSchema>;

/** The tool each structured stage offers, so every caller names and describes it the same way. */
export const STRUCTURED_TOOLS = {
  decompose: {
    toolName: 'submit_decomposition',
    toolDescription: 'Submit the task split into ordered steps (or a single step when it should not be split).',
  },
  plan: { toolName: 'submit_plan', toolDescription: 'Submit the implementation plan.' },
  verify: { toolName: 'submit_verification', toolDescription: 'Submit the verdict on the check results.' },
  review: { toolName: 'submit_review', toolDescription: 'Submit the review verdict on the diff.' },
} as const;
