/**
 * Where each API reports the tokens an answer used, in its JSON body and in its stream. Readers
 * are lenient: a field that is missing or not a number counts as absent, never as an error.
 */

/** What one answer has reported so far. */
export interface UsageTally {
  model?: string;
  /** Named parts of the input (Anthropic reports cache reads and writes apart from the rest). */
  input: Record<string, number>;
  output?: number;
}

export interface UsageFormat {
  /** A whole JSON answer. */
  json(tally: UsageTally, body: unknown): void;
  /** One streamed event's data, already parsed. */
  event(tally: UsageTally, data: unknown): void;
}

type Json = Record<string, unknown>;

function object(value: unknown): Json | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : undefined;
}

function count(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}

function setModel(tally: UsageTally, value: unknown): void {
  if (typeof value === 'string' && value !== '') tally.model = value;
}

/** Copies the named counts that are present; absent or null ones keep what was there. */
function setInput(tally: UsageTally, usage: Json, fields: readonly string[]): void {
  for (const field of fields) {
    const value = count(usage[field]);
    if (value !== undefined) tally.input[field] = value;
  }
}

const ANTHROPIC_INPUT = ['input_tokens', 'cache_creation_input_tokens', 'cache_read_input_tokens'] as const;

function anthropicUsage(tally: UsageTally, usage: Json | undefined): void {
  if (!usage) return;
  setInput(tally, usage, ANTHROPIC_INPUT);
  const output = count(usage.output_tokens);
  if (output !== undefined) tally.output = output;
}

/**
 * Anthropic Messages: the input (uncached, cache writes, cache reads) in message_start, the output
 * in message_delta. message_delta's counts are cumulative, so any input count it carries replaces
 * message_start's.
 */
export const anthropicMessages: UsageFormat = {
  json(tally, body) {
    const message = object(body);
    setModel(tally, message?.model);
    anthropicUsage(tally, object(message?.usage));
  },
  event(tally, data) {
    const event = object(data);
    if (event?.type === 'message_start') {
      const message = object(event.message);
      setModel(tally, message?.model);
      anthropicUsage(tally, object(message?.usage));
    } else if (event?.type === 'message_delta') {
      anthropicUsage(tally, object(event.usage));
    }
  },
};

function chatUsage(tally: UsageTally, usage: Json | undefined): void {
  if (!usage) return;
  setInput(tally, usage, ['prompt_tokens']);
  const output = count(usage.completion_tokens);
  if (output !== undefined) tally.output = output;
}

/** Chat Completions: `usage` in the body, or in the last chunk (with stream_options.include_usage). */
export const chatCompletions: UsageFormat = {
  json(tally, body) {
    const completion = object(body);
    setModel(tally, completion?.model);
    chatUsage(tally, object(completion?.usage));
  },
  event(tally, data) {
    const chunk = object(data);
    setModel(tally, chunk?.model);
    chatUsage(tally, object(chunk?.usage));
  },
};

const RESPONSES_FINAL = new Set(['response.completed', 'response.incomplete', 'response.failed']);

function responseUsage(tally: UsageTally, response: Json | undefined): void {
  setModel(tally, response?.model);
  const usage = object(response?.usage);
  if (!usage) return;
  setInput(tally, usage, ['input_tokens']);
  const output = count(usage.output_tokens);
  if (output !== undefined) tally.output = output;
}

/** Responses: `usage` of the response, streamed in its final event (completed, incomplete or failed). */
export const responses: UsageFormat = {
  json(tally, body) {
    responseUsage(tally, object(body));
  },
  event(tally, data) {
    const event = object(data);
    if (typeof event?.type === 'string' && RESPONSES_FINAL.has(event.type)) responseUsage(tally, object(event.response));
    else if (event?.type === 'response.created') setModel(tally, object(event.response)?.model);
  },
};
