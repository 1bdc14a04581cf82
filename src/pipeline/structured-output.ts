/**
 * Asks the model for an answer of a known shape: one tool whose parameters are the zod schema,
 * validated on the way back, with one retry that tells the model exactly what was wrong.
 */
import { z } from 'zod';
import type { ChatMessage, Completion, CompletionUsage, LLMClient, ToolResult, ToolSpec } from '../llm/client.js';

export interface AskStructuredOptions<T> {
  llm: LLMClient;
  system: string;
  prompt: string;
  schema: z.ZodType<T>;
  toolName: string;
  toolDescription: string;
  maxTokens?: number;
  signal?: AbortSignal;
  model?: string;
}

export interface StructuredAnswer<T> {
  value: T;
  /** Summed over every attempt. */
  usage: CompletionUsage;
  /** 1, or 2 when the first answer had to be corrected. */
  attempts: number;
}

/** The model did not give a valid answer even after being told what was wrong. */
export class StructuredOutputError extends Error {
  /** The last answer as the model sent it: the tool's arguments text, or its reply text. */
  readonly rawAnswer: string;
  /** What was wrong with that answer, one problem per entry. */
  readonly problems: string[];
  readonly attempts: number;
  /** Tokens spent on the failed attempts: they still count against a budget. */
  readonly usage: CompletionUsage;

  constructor(options: { toolName: string; rawAnswer: string; problems: string[]; attempts: number; usage: CompletionUsage }) {
    super(
      `the model gave no valid ${options.toolName} answer after ${options.attempts} attempts: ` +
        options.problems.join('; '),
    );
    this.name = 'StructuredOutputError';
    this.rawAnswer = options.rawAnswer;
    this.problems = options.problems;
    this.attempts = options.attempts;
    this.usage = options.usage;
  }
}

const DEFAULT_MAX_TOKENS = 4096;
const MAX_ATTEMPTS = 2;

/**
 * The JSON Schema the tool offers. The input side of the schema, because that is what the model
 * writes (transforms such as null → undefined happen after); `$schema` is left out because some
 * OpenAI-compatible servers reject unknown top-level keywords.
 */
export function toolParameters(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _ignored, ...parameters } = z.toJSONSchema(schema, { io: 'input' }) as Record<string, unknown>;
  return parameters;
}

function answerInstruction(toolName: string): string {
  return (
    `Give your answer by calling the tool \`${toolName}\` exactly once, with your complete answer as its ` +
    'arguments. Do not answer in plain text and do not call any other tool. If you cannot call tools, reply ' +
    'with only the JSON object of the arguments.'
  );
}

type Attempt<T> =
  | { ok: true; value: T }
  | { ok: false; rawAnswer: string; problems: string[] };

function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(the whole answer)';
  return path
    .map((key, index) => (typeof key === 'number' ? `[${key}]` : `${index === 0 ? '' : '.'}${String(key)}`))
    .join('');
}

function validate<T>(schema: z.ZodType<T>, parsed: unknown, rawAnswer: string): Attempt<T> {
  const result = schema.safeParse(parsed);
  if (result.success) return { ok: true, value: result.data };
  return {
    ok: false,
    rawAnswer,
    problems: result.error.issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`),
  };
}

function parseObject(text: string): { ok: true; value: Record<string, unknown> } | { ok: false; problem: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return { ok: false, problem: `the answer is not valid JSON (${(error as Error).message})` };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    const kind = parsed === null ? 'null' : Array.isArray(parsed) ? 'an array' : `a ${typeof parsed}`;
    return { ok: false, problem: `the answer must be a JSON object, but it is ${kind}` };
  }
  return { ok: true, value: parsed as Record<string, unknown> };
}

/** A JSON object written in the reply text: a ```json fence, or the text from its first `{` to its last `}`. */
function jsonInText(text: string): string | undefined {
  const fence = /```(?:json)?[^\S\n]*\n([\s\S]*?)```/i.exec(text);
  if (fence?.[1] !== undefined && fence[1].trim().startsWith('{')) return fence[1].trim();
  const start = text.indexOf('{');
  const end = text.lastIndexOf('}');
  return start !== -1 && end > start ? text.slice(start, end + 1) : undefined;
}

function judge<T>(completion: Completion, schema: z.ZodType<T>, toolName: string): Attempt<T> {
  const cut =
    completion.stopReason === 'max_tokens'
      ? ['the answer was cut off at the output token limit: make it shorter']
      : [];
  const call = completion.toolCalls.find((candidate) => candidate.name === toolName);
  if (call) {
    const parsed = parseObject(call.arguments);
    if (!parsed.ok) return { ok: false, rawAnswer: call.arguments, problems: [parsed.problem, ...cut] };
    return validate(schema, parsed.value, call.arguments);
  }
  // Weak OpenAI-compatible models often write the JSON as text instead of calling the tool.
  const json = jsonInText(completion.text);
  const parsed = json === undefined ? undefined : parseObject(json);
  if (parsed?.ok) return validate(schema, parsed.value, completion.text);
  const others = completion.toolCalls.map((other) => `\`${other.name}\``);
  const problem =
    others.length > 0
      ? `you called ${others.join(', ')} instead of \`${toolName}\`, the only tool there is`
      : completion.text.trim() === ''
        ? `the reply was empty: call \`${toolName}\``
        : parsed
          ? `the reply did not call \`${toolName}\`, and the JSON in its text is unusable: ${parsed.problem}`
          : `the reply did not call \`${toolName}\` and contains no JSON object`;
  return { ok: false, rawAnswer: completion.text, problems: [problem, ...cut] };
}

function correction(toolName: string, problems: string[]): string {
  return (
    `Your answer was not accepted:\n${problems.map((problem) => `- ${problem}`).join('\n')}\n\n` +
    `Call \`${toolName}\` again with the complete, corrected answer (all fields, not only the ones that changed).`
  );
}

/** The model's answer and what was wrong with it, in the shape both wire formats accept. */
function retryMessages(completion: Completion, toolName: string, problems: string[]): ChatMessage[] {
  const assistant: ChatMessage = { role: 'assistant', text: completion.text, toolCalls: completion.toolCalls };
  if (completion.toolCalls.length === 0) {
    return [assistant, { role: 'user', content: correction(toolName, problems) }];
  }
  // Every tool call needs a result before the conversation may go on, in both APIs.
  const ours = completion.toolCalls.find((call) => call.name === toolName);
  const results: ToolResult[] = completion.toolCalls.map((call) => ({
    callId: call.id,
    isError: true,
    content:
      call === ours || (!ours && call === completion.toolCalls[0])
        ? correction(toolName, problems)
        : `There is no tool \`${call.name}\`; only \`${toolName}\`.`,
  }));
  return [assistant, { role: 'tool', results }];
}

export async function askStructured<T>(options: AskStructuredOptions<T>): Promise<StructuredAnswer<T>> {
  const tool: ToolSpec = {
    name: options.toolName,
    description: options.toolDescription,
    parameters: toolParameters(options.schema),
  };
  const system = `${options.system.trimEnd()}\n\n${answerInstruction(options.toolName)}`;
  const messages: ChatMessage[] = [{ role: 'user', content: options.prompt }];
  const usage: CompletionUsage = { inputTokens: 0, outputTokens: 0 };
  let last: Attempt<T> | undefined;
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const completion = await options.llm.complete({
      system,
      messages,
      tools: [tool],
      maxTokens: options.maxTokens ?? DEFAULT_MAX_TOKENS,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.model ? { model: options.model } : {}),
    });
    usage.inputTokens += completion.usage.inputTokens;
    usage.outputTokens += completion.usage.outputTokens;
    last = judge(completion, options.schema, options.toolName);
    if (last.ok) return { value: last.value, usage, attempts: attempt };
    messages.push(...retryMessages(completion, options.toolName, last.problems));
  }
  const failed = last as Extract<Attempt<T>, { ok: false }>;
  throw new StructuredOutputError({
    toolName: options.toolName,
    rawAnswer: failed.rawAnswer,
    problems: failed.problems,
    attempts: MAX_ATTEMPTS,
    usage,
  });
}
