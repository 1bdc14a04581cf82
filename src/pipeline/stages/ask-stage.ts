import type { z } from 'zod';
import { askStructured, StructuredOutputError } from '../structured-output.js';
import type { StageContext } from '../stage.js';

const STAGE_SYSTEM = 'You are one stage of TeleCoder, an autonomous coding agent. Follow the instructions in the user message.';

/**
 * A structured question for a stage with its model, its usage booked to the stage, and a model that
 * cannot answer in shape reported as a value (the stages go on without the answer) rather than thrown.
 */
export async function askStage<T>(
  context: StageContext,
  stage: string,
  options: { prompt: string; schema: z.ZodType<T>; toolName: string; toolDescription: string },
): Promise<{ ok: true; value: T } | { ok: false; problem: string }> {
  const llm = context.llmFor(stage);
  try {
    const answer = await askStructured({ llm, system: STAGE_SYSTEM, signal: context.signal, ...options });
    context.recordLLM(stage, llm.model, answer.usage, answer.attempts);
    return { ok: true, value: answer.value };
  } catch (error) {
    if (!(error instanceof StructuredOutputError)) throw error;
    context.recordLLM(stage, llm.model, error.usage, error.attempts);
    return { ok: false, problem: error.message };
  }
}
