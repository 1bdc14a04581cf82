import type { InfoJson, SessionJson } from '../../web/src/api/types.js';

/** A session as the API sends it: a pending task on acme/api unless `changes` say otherwise. */
export function sessionJson(changes: Partial<SessionJson> & { id: string }): SessionJson {
  return {
    repo: 'acme/api',
    prompt: `task ${changes.id}`,
    mode: 'task',
    status: 'pending',
    branch: `telecoder/${changes.id}`,
    agent: 'builtin',
    model: null,
    pr_url: null,
    pr_number: null,
    result: null,
    error: null,
    usage: { input_tokens: 0, output_tokens: 0, turns: 0 },
    origin: { kind: 'api' },
    created_at: '2026-11-27T10:00:00.000Z',
    updated_at: '2026-11-27T10:00:00.000Z',
    ...changes,
  };
}

/** `GET /api/info` with the App configured and no budget, unless `changes` say otherwise. */
export function infoJson(changes: Partial<InfoJson> = {}): InfoJson {
  return {
    version: '0.1.0',
    github_app: { configured: true, setup_url: null },
    budget: { max_tokens: null, max_cost_usd: null },
    recent_repos: [],
    ...changes,
  };
}
