/**
 * The API's JSON shapes, and nothing else: the dashboard (web/) imports these types too, so this
 * file imports only the model's types, which need neither Node nor the server.
 */
import type { Message, Session, SessionEvent, SessionResult } from '../model/session.js';

/** The API speaks snake_case, as the original system did. */
export interface SessionResultJson {
  type: SessionResult['type'];
  content: string;
  pr_url?: string;
  pr_number?: number;
  branch?: string;
  /** The pull request is a draft because the work is flagged. */
  draft?: boolean;
  /** Checks that still fail on the delivered change; `before` is how they did on the base. */
  failing_checks?: Array<{ name: string; command: string; before: 'passing' | 'failing' | 'unknown' }>;
  /** What is wrong with the delivered work, in one sentence. */
  warning?: string;
  /** Changed CI workflow files that were not pushed; the pull request body shows them. */
  held_back?: string[];
}

export interface TokenUsageJson {
  input_tokens: number;
  output_tokens: number;
  turns: number;
  /** USD, when every model used has a price. */
  cost_usd?: number;
}

export interface SessionJson {
  id: string;
  repo: string;
  prompt: string;
  mode: Session['mode'];
  status: Session['status'];
  branch: string;
  agent: string;
  model: string | null;
  pr_url: string | null;
  pr_number: number | null;
  result: SessionResultJson | null;
  error: string | null;
  usage: TokenUsageJson;
  /** Only the kind: the rest of an origin (chat ids, requesters) stays on the server. */
  origin: { kind: string };
  created_at: string;
  updated_at: string;
}

export interface SessionEventJson {
  id: number;
  session_id: string;
  type: SessionEvent['type'];
  data: unknown;
  created_at: string;
}

export interface MessageJson {
  id: number;
  session_id: string;
  role: Message['role'];
  content: string;
  created_at: string;
}


/** `GET /api/info`. */
export interface ServerInfoJson {
  version: string;
  github_app: { configured: boolean; setup_url: string | null };
  budget: { max_tokens: number | null; max_cost_usd: number | null };
  recent_repos: string[];
}
