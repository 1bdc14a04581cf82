import type { LLMClient } from '../llm/client.js';
import type { TokenUsage } from '../model/session.js';
import type { Sandbox } from '../sandbox/runtime.js';

/**
 * `usage`: the run's totals so far (TokenUsage); `request-usage`: one LLM request's own tokens and
 * model (GatewayUsage), from agents whose requests go through the gateway.
 */
export type AgentEventType = 'output' | 'tool' | 'usage' | 'request-usage';

export interface AgentRunInput {
  sandbox: Sandbox;
  llm: LLMClient;
  /** The task, already assembled (task text plus any context the pipeline adds). */
  prompt: string;
  /** Extra system instructions (repository conventions, stage instructions). */
  instructions?: string;
  maxTurns: number;
  /** Per shell command, unless the model asks for less. */
  commandTimeoutMs: number;
  /** Aborts the LLM call in flight and the loop (stop). */
  signal: AbortSignal;
  /**
   * Why the session may not spend more (its budget is reached), or null. Asked before each LLM
   * request an external agent makes through the gateway.
   */
  spendingRefusal?(): string | null;
  onEvent(type: AgentEventType, data: unknown): void;
}

export interface AgentRunResult {
  /** The agent's final words: a summary of the change, or the answer to a question. */
  summary: string;
  usage: TokenUsage;
}

/** Does the work inside a sandbox. The built-in one is a tool-calling loop run from the server. */
export interface CodingAgent {
  readonly name: string;
  /** Why this agent cannot run on this server (a provider key it needs is missing), or undefined. */
  unavailableReason?(): string | undefined;
  run(input: AgentRunInput): Promise<AgentRunResult>;
}
