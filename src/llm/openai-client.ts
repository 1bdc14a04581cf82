import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import type {
  ChatCompletion,
  ChatCompletionMessageParam,
  ChatCompletionTool,
} from 'openai/resources/chat/completions/completions';
import { randomUUID } from 'node:crypto';
import type { ChatMessage, Completion, CompletionRequest, LLMClient, ToolCall } from './client.js';
import { llmAbortError, llmRequestError, serverText } from './llm-request-error.js';

export interface OpenAIClientOptions {
  apiKey: string;
  /** OPENAI_BASE_URL, e.g. http://127.0.0.1:11434/v1 for Ollama; the SDK appends /chat/completions. */
  baseURL?: string;
  model: string;
  maxRetries: number;
  timeoutMs: number;
  fetch?: (input: string | URL | Request, init?: RequestInit) => Promise<Response>;
}

const DEFAULT_BASE_URL = 'https://api.openai.com/v1';

export function toOpenAIMessages(system: string, messages: ChatMessage[]): ChatCompletionMessageParam[] {
  const out: ChatCompletionMessageParam[] = [{ role: 'system', content: system }];
  for (const message of messages) {
    if (message.role === 'user') {
      out.push({ role: 'user', content: message.content });
    } else if (message.role === 'assistant') {
      out.push({
        role: 'assistant',
        content: message.text === '' && message.toolCalls.length > 0 ? null : message.text,
        ...(message.toolCalls.length > 0
          ? {
              tool_calls: message.toolCalls.map((call) => ({
                id: call.id,
                type: 'function' as const,
                // Sent back exactly as the model wrote it, malformed or not.
                function: { name: call.name, arguments: call.arguments },
              })),
            }
          : {}),
      });
    } else {
      for (const result of message.results) {
        // Chat Completions has no error flag on tool results; say it in the text.
        out.push({
          role: 'tool',
          tool_call_id: result.callId,
          content: result.isError ? `Error: ${result.content}` : result.content,
        });
      }
    }
  }
  return out;
}

function fromChatCompletion(response: ChatCompletion, fallbackModel: string, provider: string): Completion {
  const choice = response.choices?.[0];
  if (!choice) {
    throw llmRequestError({
      provider,
      kind: 'other',
      maxRetries: 0,
      timeoutMs: 0,
      baseURL: '',
      cause: undefined,
      detail: 'the answer had no choices; is the base URL an OpenAI-compatible Chat Completions server?',
    });
  }
  const toolCalls: ToolCall[] = [];
  for (const call of choice.message.tool_calls ?? []) {
    if (call.type !== 'function') continue;
    const raw: unknown = call.function.arguments;
    toolCalls.push({
      // Some compatible servers leave ids out; the agent needs one to pair results with calls.
      id: call.id || `call_${randomUUID().replaceAll('-', '')}`,
      name: call.function.name,
      // Some compatible servers send an object instead of the JSON text the API specifies.
      arguments: typeof raw === 'string' ? raw : JSON.stringify(raw ?? {}),
    });
  }
  return {
    text: choice.message.content ?? '',
    toolCalls,
    stopReason: toolCalls.length > 0 ? 'tool_use' : choice.finish_reason === 'length' ? 'max_tokens' : 'end',
    usage: {
      inputTokens: response.usage?.prompt_tokens ?? 0,
      outputTokens: response.usage?.completion_tokens ?? 0,
    },
    model: response.model || fallbackModel,
  };
}

export class OpenAIClient implements LLMClient {
  readonly provider = 'openai';
  readonly model: string;
  readonly #sdk: OpenAI;
  readonly #options: OpenAIClientOptions;

  constructor(options: OpenAIClientOptions) {
    this.#options = options;
    this.model = options.model;
    this.#sdk = new OpenAI({
      apiKey: options.apiKey,
      // Not read from the environment: what the caller passed is the whole configuration.
      organization: null,
      project: null,
      baseURL: options.baseURL ?? DEFAULT_BASE_URL,
      maxRetries: options.maxRetries,
      timeout: options.timeoutMs,
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
  }

  async complete(request: CompletionRequest): Promise<Completion> {
    const model = request.model ?? this.model;
    const tools: ChatCompletionTool[] = request.tools.map((tool) => ({
      type: 'function',
      function: { name: tool.name, description: tool.description, parameters: tool.parameters },
    }));
    let response: ChatCompletion;
    try {
      response = await this.#sdk.chat.completions.create(
        {
          model,
          // max_tokens, not max_completion_tokens: Ollama, vLLM and LM Studio only know this one.
          max_tokens: request.maxTokens,
          messages: toOpenAIMessages(request.system, request.messages),
          ...(tools.length > 0 ? { tools } : {}),
        },
        request.signal ? { signal: request.signal } : undefined,
      );
    } catch (error) {
      throw this.#translate(error, request.signal);
    }
    return fromChatCompletion(response, model, this.provider);
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
      // OpenAI puts {message} under "error"; Ollama and others put a bare string there.
      const body: unknown = error.error;
      const serverMessage =
        typeof body === 'string'
          ? body
          : body && typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string'
            ? (body as { message: string }).message
            : serverText(error.message, error.status);
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
