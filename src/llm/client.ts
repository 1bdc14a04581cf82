/**
 * A provider-neutral tool-calling chat interface. The built-in agent speaks only this; the
 * Anthropic and OpenAI clients translate to and from their wire formats.
 */

export interface ToolSpec {
  name: string;
  description: string;
  /** JSON Schema of the arguments object. */
  parameters: Record<string, unknown>;
}

export interface ToolCall {
  id: string;
  name: string;
  /** Raw JSON text of the arguments as the model sent it; the agent parses and validates it. */
  arguments: string;
}

export interface ToolResult {
  callId: string;
  content: string;
  isError: boolean;
}

export type ChatMessage =
  | { role: 'user'; content: string }
  | { role: 'assistant'; text: string; toolCalls: ToolCall[] }
  | { role: 'tool'; results: ToolResult[] };

export interface CompletionRequest {
  system: string;
  messages: ChatMessage[];
  tools: ToolSpec[];
  maxTokens: number;
  /** Aborts the request in flight (stop). */
  signal?: AbortSignal;
  /** Overrides the client's model for this request. */
  model?: string;
}

export interface CompletionUsage {
  inputTokens: number;
  outputTokens: number;
}

export interface Completion {
  text: string;
  toolCalls: ToolCall[];
  /** 'tool_use' when toolCalls is non-empty, 'end' when the model finished, 'max_tokens' when cut. */
  stopReason: 'tool_use' | 'end' | 'max_tokens';
  usage: CompletionUsage;
  model: string;
}

export interface LLMClient {
  /** 'anthropic', 'openai' or a custom provider name. */
  readonly provider: string;
  readonly model: string;
  complete(request: CompletionRequest): Promise<Completion>;
}
