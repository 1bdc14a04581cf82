import type { Duplex } from 'node:stream';

/** Tokens and the model one forwarded request used, as the provider reported them. */
export interface GatewayUsage {
  model: string;
  inputTokens: number;
  outputTokens: number;
}

/** What a session is allowed through the gateway while its external agent runs. */
export interface GatewayGrantOptions {
  sessionId: string;
  /**
   * Asked before each request is forwarded: a reason refuses it (the session's budget is spent,
   * say); null lets it through.
   */
  refusal(): string | null;
  /** Each forwarded request's usage, once its answer is complete (streamed or not). */
  onUsage(usage: GatewayUsage): void;
  /** A request the gateway refused because of `refusal()`, with that reason (the session ends with it). */
  onRefused?(reason: string): void;
}

export interface GatewayGrant {
  /** The session's bearer token: random, valid only for this session until revoked. */
  readonly token: string;
  /** Ends the grant: later requests get 401, requests in flight are cut. Safe to call twice. */
  revoke(): void;
}

/**
 * Holds the provider keys and forwards sandboxed agents' LLM requests with them: Anthropic
 * Messages at /anthropic/v1/messages, OpenAI Chat Completions and Responses at
 * /openai/v1/chat/completions and /openai/v1/responses, streaming included.
 */
export interface LLMGateway {
  grant(options: GatewayGrantOptions): GatewayGrant;
  /**
   * Serves one connection that arrived through a session's sandbox tunnel. Requests on it are
   * accepted only with that session's token.
   */
  accept(socket: Duplex, sessionId: string): void;
  /** Revokes every grant and closes every connection. */
  close(): Promise<void>;
}
