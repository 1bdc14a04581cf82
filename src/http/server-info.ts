import type { SessionService } from '../engine/session-service.js';
import type { ServerInfoJson } from './api-types.js';

export type { ServerInfoJson };

/** How many distinct repositories `recent_repos` lists, and how many sessions are looked at for them. */
export const RECENT_REPOS_LIMIT = 20;
const RECENT_SESSIONS_SCANNED = 200;

/** What the server knows about itself that the dashboard shows; fixed for the process's life. */
export interface ServerInfo {
  version: string;
  githubApp: {
    configured: boolean;
    /** Where a browser sets the App up (`/probot`); null when it is configured. */
    setupUrl: string | null;
  };
  budget: { maxTokens: number | null; maxCostUsd: number | null };
}


/** `GET /api/info`: the fixed facts plus the repositories of the newest sessions, most recent first. */
export function serverInfoToJson(info: ServerInfo, service: Pick<SessionService, 'list'>): ServerInfoJson {
  const repos: string[] = [];
  for (const session of service.list({ limit: RECENT_SESSIONS_SCANNED })) {
    if (!repos.includes(session.repo)) repos.push(session.repo);
    if (repos.length === RECENT_REPOS_LIMIT) break;
  }
  return {
    version: info.version,
    github_app: { configured: info.githubApp.configured, setup_url: info.githubApp.setupUrl },
    budget: { max_tokens: info.budget.maxTokens, max_cost_usd: info.budget.maxCostUsd },
    recent_repos: repos,
  };
}
