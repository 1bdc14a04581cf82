import type { Message, Session, SessionEvent, SessionResult, TokenUsage } from '../model/session.js';
import type { MessageJson, SessionEventJson, SessionJson, SessionResultJson, TokenUsageJson } from './api-types.js';

export type { MessageJson, SessionEventJson, SessionJson, SessionResultJson, TokenUsageJson } from './api-types.js';

export function resultToJson(result: SessionResult): SessionResultJson {
  return {
    type: result.type,
    content: result.content,
    ...(result.prUrl !== undefined ? { pr_url: result.prUrl } : {}),
    ...(result.prNumber !== undefined ? { pr_number: result.prNumber } : {}),
    ...(result.branch !== undefined ? { branch: result.branch } : {}),
    ...(result.draft ? { draft: true } : {}),
    ...(result.failingChecks ? { failing_checks: result.failingChecks } : {}),
    ...(result.warning ? { warning: result.warning } : {}),
    ...(result.heldBack && result.heldBack.length > 0 ? { held_back: result.heldBack } : {}),
  };
}

export function usageToJson(usage: TokenUsage): TokenUsageJson {
  return {
    input_tokens: usage.inputTokens,
    output_tokens: usage.outputTokens,
    turns: usage.turns,
    ...(typeof usage.costUsd === 'number' ? { cost_usd: usage.costUsd } : {}),
  };
}

export function sessionToJson(session: Session): SessionJson {
  return {
    id: session.id,
    repo: session.repo,
    prompt: session.prompt,
    mode: session.mode,
    status: session.status,
    branch: session.branch,
    agent: session.agent,
    model: session.model,
    pr_url: session.prUrl,
    pr_number: session.prNumber,
    result: session.result ? resultToJson(session.result) : null,
    error: session.error,
    usage: usageToJson(session.usage),
    origin: { kind: session.origin.kind },
    created_at: session.createdAt,
    updated_at: session.updatedAt,
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isResult(value: unknown): value is SessionResult {
  return isObject(value) && typeof value.type === 'string' && typeof value.content === 'string';
}

function isUsage(value: unknown): value is TokenUsage {
  return isObject(value) && typeof value.inputTokens === 'number' && typeof value.outputTokens === 'number';
}

/**
 * The engine stores model objects in some events (`result`, `usage`, and `done`'s result); they
 * are given the same snake_case shape here as everywhere else in the API. Other data passes as is.
 */
export function eventDataToJson(type: SessionEvent['type'], data: unknown): unknown {
  if (type === 'result' && isResult(data)) return resultToJson(data);
  if (type === 'usage' && isUsage(data)) return usageToJson(data);
  if (type === 'done' && isObject(data) && isResult(data.result)) return { ...data, result: resultToJson(data.result) };
  return data;
}

export function eventToJson(event: SessionEvent): SessionEventJson {
  return {
    id: event.id,
    session_id: event.sessionId,
    type: event.type,
    data: eventDataToJson(event.type, event.data),
    created_at: event.createdAt,
  };
}

export function messageToJson(message: Message): MessageJson {
  return {
    id: message.id,
    session_id: message.sessionId,
    role: message.role,
    content: message.content,
    created_at: message.createdAt,
  };
}

/** `GET /api/caches`: what TeleCoder keeps for one repository between its sessions. */
export interface RepositoryCacheJson {
  repo: string;
  /** The bare git mirror on the server; null when there is none. */
  mirror: { path: string; bytes: number; updated_at: string } | null;
  /** The dependency cache volume; `bytes` is null when Docker does not say. */
  dependencies: { name: string; bytes: number | null } | null;
}

/** `POST /api/caches/prune`. */
export interface CachePruneJson {
  pruned: string[];
  kept: Array<{ repo: string; reason: string }>;
}

export function repositoryCacheToJson(cache: import('../engine/repository-caches.js').RepositoryCache): RepositoryCacheJson {
  return {
    repo: cache.repo,
    mirror: cache.mirror ? { path: cache.mirror.path, bytes: cache.mirror.bytes, updated_at: cache.mirror.updatedAt } : null,
    dependencies: cache.dependencies ? { name: cache.dependencies.name, bytes: cache.dependencies.bytes } : null,
  };
}
