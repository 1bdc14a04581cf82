import type { ChatMessage, Completion, ToolResult } from '../llm/client.js';
import type { TokenUsage } from '../model/session.js';
import { runTool, TOOL_SPECS } from './agent-tools.js';
import type { AgentRunInput, AgentRunResult, CodingAgent } from './coding-agent.js';
import { buildSystemPrompt } from './system-prompt.js';

export interface BuiltinAgentOptions {
  /** max_tokens of each model reply. */
  maxTokens?: number;
}

const DEFAULT_MAX_TOKENS = 8_192;
/** Replies in a row with unusable tool calls before the run is given up. */
const MAX_MALFORMED_IN_A_ROW = 3;
const EVENT_RESULT_CHARS = 2_000;
const EVENT_ARGUMENT_CHARS = 200;
const EVENT_RAW_ARGUMENTS_CHARS = 500;

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : text;
}

/** A readable, bounded view of a call's arguments for the event stream (file contents are cut). */
export function summarizeArguments(raw: string): unknown {
  try {
    const parsed: unknown = JSON.parse(raw);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
      return Object.fromEntries(
        Object.entries(parsed).map(([key, value]) => [
          key,
          typeof value === 'string' ? truncate(value, EVENT_ARGUMENT_CHARS) : value,
        ]),
      );
    }
  } catch {
    // Shown raw below.
  }
  return truncate(raw, EVENT_RAW_ARGUMENTS_CHARS);
}

function abortError(signal: AbortSignal): Error {
  const error = new Error('the agent was stopped', { cause: signal.reason });
  error.name = 'AbortError';
  return error;
}

/**
 * The built-in coding agent: a tool-calling loop run from the server, whose tools execute inside
 * the sandbox. It ends when the model calls finish (or replies without a tool call).
 */
export class BuiltinAgent implements CodingAgent {
  readonly name = 'builtin';
  readonly #maxTokens: number;

  constructor(options: BuiltinAgentOptions = {}) {
    this.#maxTokens = options.maxTokens ?? DEFAULT_MAX_TOKENS;
  }

  async run(input: AgentRunInput): Promise<AgentRunResult> {
    const { sandbox, llm, signal, onEvent } = input;
    const system = buildSystemPrompt(sandbox.workspace, input.instructions);
    const messages: ChatMessage[] = [{ role: 'user', content: input.prompt }];
    const usage: TokenUsage = { inputTokens: 0, outputTokens: 0, turns: 0 };
    let malformedInARow = 0;

    for (let turn = 1; turn <= input.maxTurns; turn += 1) {
      if (signal.aborted) throw abortError(signal);
      let completion: Completion;
      try {
        completion = await llm.complete({ system, messages, tools: TOOL_SPECS, maxTokens: this.#maxTokens, signal });
      } catch (error) {
        if (signal.aborted) throw abortError(signal);
        throw error instanceof Error ? error : new Error(String(error));
      }
      usage.inputTokens += completion.usage.inputTokens;
      usage.outputTokens += completion.usage.outputTokens;
      usage.turns = turn;
      onEvent('usage', { ...usage });
      if (completion.text.trim() !== '') onEvent('output', completion.text);
      messages.push({ role: 'assistant', text: completion.text, toolCalls: completion.toolCalls });

      if (completion.toolCalls.length === 0) {
        if (completion.stopReason === 'max_tokens') {
          // Cut off mid-thought: let it carry on rather than treat half a reply as the answer.
          messages.push({
            role: 'user',
            content: 'Your reply was cut off at the output token limit. Continue, in shorter steps.',
          });
          continue;
        }
        return { summary: completion.text.trim() || '(the agent finished without a summary)', usage: { ...usage } };
      }

      const results: ToolResult[] = [];
      let problem: string | undefined;
      for (const call of completion.toolCalls) {
        if (signal.aborted) throw abortError(signal);
        onEvent('tool', { name: call.name, arguments: summarizeArguments(call.arguments) });
        let outcome;
        try {
          outcome = await runTool(call, { sandbox, commandTimeoutMs: input.commandTimeoutMs, signal });
        } catch (error) {
          if (signal.aborted) throw abortError(signal);
          throw error;
        }
        if (outcome.kind === 'finish') return { summary: outcome.summary.trim(), usage: { ...usage } };
        const isError = outcome.kind === 'malformed' || outcome.isError;
        if (outcome.kind === 'malformed') problem = outcome.content;
        results.push({ callId: call.id, content: outcome.content, isError });
        onEvent('output', truncate(outcome.content, EVENT_RESULT_CHARS));
      }
      messages.push({ role: 'tool', results });

      malformedInARow = problem === undefined ? 0 : malformedInARow + 1;
      if (problem !== undefined && malformedInARow >= MAX_MALFORMED_IN_A_ROW) {
        throw new Error(
          `the model sent malformed tool calls ${MAX_MALFORMED_IN_A_ROW} times in a row (last: ${problem}); ` +
            'try a more capable model (TELECODER_MODEL)',
        );
      }
    }
    throw new Error(
      `the agent used all ${input.maxTurns} turns without finishing; raise TELECODER_MAX_TURNS or split the task`,
    );
  }
}
