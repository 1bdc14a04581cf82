import Anthropic, {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
} from '@anthropic-ai/sdk';
import type {
  ContentBlockParam,
  Message,
  MessageParam,
  Tool,
} from '@anthropic-ai/sdk/resources/messages/messages';
import type { ChatMessage, Completion, CompletionRequest, LLMClient, ToolCall } from './client.js';
import { llmAbortError, llmRequestError, serverText } from './llm-request-error.js';

export interface AnthropicClientOptions {
  apiKey: string;
  /** ANTHROPIC_BASE_URL; the SDK appends /v1/messages. */
  baseURL?: string;
  model: string;
  maxRetries: number;
  timeoutMs: number;
  fetch?: (input: string | URL | Request, init?: RequestInit) => Promise<Response>;
}

const DEFAULT_BASE_URL = 'https://api.anthropic.com';

/** Stored arguments go back to the API as an object; anything else becomes {} (the agent already
 * answered that call with an error result, so the history stays truthful). */
function toInput(argumentsText: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(argumentsText);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
      return parsed as Record<string, unknown>;
    }
  } catch {
    // fall through
  }
  return {};
}

export function toAnthropicMessages(messages: ChatMessage[]): MessageParam[] {
  const out: MessageParam[] = [];
  // The API wants user and assistant turns to alternate: tool results and a following user text
  // are merged into one user turn, results first as the API requires.
  const pushUser = (blocks: ContentBlockParam[]) => {
    const last = out.at(-1);
    if (last && last.role === 'user' && Array.isArray(last.content)) {
      last.content.push(...blocks);
    } else {
      out.push({ role: 'user', content: blocks });
    }
  };
  for (const message of messages) {
    if (message.role === 'user') {
      pushUser([{ type: 'text', text: message.content }]);
    } else if (message.role === 'assistant') {
      const content: ContentBlockParam[] = [];
      if (message.text !== '') content.push({ type: 'text', text: message.text });
      for (const call of message.toolCalls) {
        content.push({ type: 'tool_use', id: call.id, name: call.name, input: toInput(call.arguments) });
      }
      // An empty assistant turn is rejected by the API; keep the turn so roles still alternate.
      if (content.length === 0) content.push({ type: 'text', text: '(no reply)' });
      out.push({ role: 'assistant', content });
    } else {
      pushUser(
        message.results.map((result) => ({
          type: 'tool_result' as const,
          tool_use_id: result.callId,
          content: result.content,
          is_error: result.isError,
        })),
      );
    }
  }
  return out;
}

function fromAnthropicMessage(message: Message, fallbackModel: string): Completion {
  let text = '';
  const toolCalls: ToolCall[] = [];
  for (const block of message.content) {
    if (block.type === 'text') {
      text += block.text;
    } else if (block.type === 'tool_use') {
      toolCalls.push({ id: block.id, name: block.name, arguments: JSON.stringify(block.input ?? {}) });
    }
  }
  const cut = message.stop_reason === 'max_tokens' || message.stop_reason === 'model_context_window_exceeded';
  const usage = message.usage;
  return {
    text,
    toolCalls,
    stopReason: toolCalls.length > 0 ? 'tool_use' : cut ? 'max_tokens' : 'end',
    usage: {
      // Cached prompt tokens are still input the session consumed.
      inputTokens:
        (usage?.input_tokens ?? 0) +
        (usage?.cache_creation_input_tokens ?? 0) +
        (usage?.cache_read_input_tokens ?? 0),
      outputTokens: usage?.output_tokens ?? 0,
    },
    model: message.model || fallbackModel,
  };
}

export class AnthropicClient implements LLMClient {
  readonly provider = 'anthropic';
  readonly model: string;
  readonly #sdk: Anthropic;
  readonly #options: AnthropicClientOptions;

  constructor(options: AnthropicClientOptions) {
    this.#options = options;
    this.model = options.model;
    this.#sdk = new Anthropic({
      apiKey: options.apiKey,
      // Only the key we were given: never an ANTHROPIC_AUTH_TOKEN that happens to be in the env.
      authToken: null,
      baseURL: options.baseURL ?? DEFAULT_BASE_URL,
      maxRetries: options.maxRetries,
      timeout: options.timeoutMs,
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
  }

  async complete(request: CompletionRequest): Promise<Completion> {
    const model = request.model ?? this.model;
    const tools: Tool[] = request.tools.map((tool) => ({
      name: tool.name,
      description: tool.description,
      input_schema: { type: 'object', ...tool.parameters } as Tool.InputSchema,
    }));
    try {
      const message = await this.#sdk.messages.create(
        {
          model,
          max_tokens: request.maxTokens,
          system: request.system,
          messages: toAnthropicMessages(request.messages),
          ...(tools.length > 0 ? { tools } : {}),
        },
        request.signal ? { signal: request.signal } : undefined,
      );
      return fromAnthropicMessage(message, model);
    } catch (error) {
      throw this.#translate(error, request.signal);
    }
  }

  #translate(error: unknown, signal: AbortSignal | undefined): Error {
    if (error instanceof APIUserAbortError || signal?.aborted) return llmAbortError(this.provider, error);
    const base = {
      provider: this.provider,
      maxRetries: this.#options.maxRetries,
      timeoutMs: this.#options.timeoutMs,
      baseURL: this.#options.baseURL ?? DEFAULT_BASE_URL,
      cause: error,
      detail: error instanceof Error ? error.message : String(error),
    };
    if (error instanceof APIConnectionTimeoutError) return llmRequestError({ ...base, kind: 'timeout' });
    if (error instanceof APIConnectionError) {
      const cause = error.cause instanceof Error ? error.cause.message : undefined;
      return llmRequestError({ ...base, kind: 'connection', detail: cause ?? base.detail });
    }
    if (error instanceof APIError && error.status !== undefined) {
      const serverMessage = error.apiMessage ?? serverText(error.message, error.status);
      return llmRequestError({
        ...base,
        kind: 'status',
        status: error.status,
        ...(serverMessage ? { serverMessage } : {}),
      });
    }
    return llmRequestError({ ...base, kind: 'other' });
  }
}
