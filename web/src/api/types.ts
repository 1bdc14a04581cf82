/**
 * The API's JSON shapes, from the server's own declarations (type-only: nothing of the server is
 * bundled), plus what only the page sends.
 */
import type { SessionResultJson as SessionResultJsonType } from '../../../src/http/api-types.js';
import type { SessionEvent, SessionMode } from '../../../src/model/session.js';

export type {
  MessageJson,
  ServerInfoJson as InfoJson,
  SessionEventJson,
  SessionJson,
  SessionResultJson,
  TokenUsageJson,
} from '../../../src/http/api-types.js';
export type { SessionMode, SessionStatus } from '../../../src/model/session.js';
export type SessionEventType = SessionEvent['type'];
export type FailingCheckJson = NonNullable<SessionResultJsonType['failing_checks']>[number];

export interface NewSessionJson {
  repo: string;
  prompt: string;
  mode?: SessionMode;
  /** builtin, claude-code, opencode, codex or auto; absent: the server's TELECODER_CODING_AGENT. */
  agent?: string;
  model?: string;
}
