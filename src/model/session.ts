/**
 * The session model shared by every part of TeleCoder: the store persists it, the engine moves it
 * through its statuses, the HTTP API and the CLI show it.
 */

export const SESSION_STATUSES = ['pending', 'running', 'complete', 'error', 'stopped', 'idle'] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];

/** Statuses a session never leaves. */
export const FINAL_STATUSES: ReadonlySet<SessionStatus> = new Set(['complete', 'error', 'stopped']);

export type SessionMode = 'task' | 'chat';

/**
 * What a finished session produced.
 * - `pr`: a pull request was opened (or, for a revision, updated).
 * - `branch`: the work was pushed to a branch of a local repository (no pull request exists there).
 * - `text`: the task changed nothing; `content` is the agent's answer.
 * A delivered change whose checks still fail is flagged: `draft`, `failingChecks`, and a first
 * line of `content` that says so.
 */
export interface SessionResult {
  type: 'pr' | 'branch' | 'text';
  content: string;
  prUrl?: string;
  prNumber?: number;
  branch?: string;
  /** The pull request was opened as a draft because the work is flagged. */
  draft?: boolean;
  /** Checks that still fail on the delivered change, and how they did on the base. */
  failingChecks?: Array<{ name: string; command: string; before: 'passing' | 'failing' | 'unknown' }>;
  /** Problems with the delivered work in one sentence (failing checks, failed steps, failed setup, held-back files). */
  warning?: string;
  /**
   * Changed files that were not pushed: CI workflows (.github/workflows/, .github/actions/) are
   * held back unless allowed. The pull request (a draft) shows their content for a person to add.
   */
  heldBack?: string[];
}

export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  /** Agent turns (LLM round trips) spent. */
  turns: number;
  /** USD spent, when every model used has a price (TELECODER_PRICES). */
  costUsd?: number;
}

/**
 * What a task does beyond the defaults. Stored with the session, so a session queued before a
 * restart runs exactly as it was asked.
 */
export interface TaskOptions {
  /** Revise this pull request: work on its head branch as it is and push commits on top. */
  revision?: PullRequestRevision;
  /** The issue the work resolves: the pull request body says "Fixes #N". */
  issueNumber?: number;
  /** Branch new pull requests target instead of the repository's default branch. */
  baseBranch?: string;
  /** Open the pull request as a draft. */
  draft?: boolean;
  /** Instructions from the repository's TeleCoder configuration, given to the agent. */
  instructions?: string;
  /**
   * What to call the work in the pull request title, commit subject and PR body, when the prompt
   * is assembled context rather than words a person wrote (an issue's title).
   */
  title?: string;
  /** Review rounds for this task, instead of TELECODER_MAX_REVISIONS (the repository configuration's). */
  maxRevisions?: number;
  /** Commands the verify stage runs before the checks (the repository configuration's setupCommands). */
  setupCommands?: string[];
  /** Commands the verify stage runs instead of the detected checks (testCommands). */
  testCommands?: string[];
  /**
   * The repository's configuration lets changes to CI workflows through (allowWorkflowChanges);
   * only a door that read that configuration sets it.
   */
  allowWorkflowChanges?: boolean;
}

export interface PullRequestRevision {
  prNumber: number;
  prUrl: string;
  /** The pull request's head branch in the same repository: where revision commits go. */
  headBranch: string;
}

export interface Session {
  id: string;
  repo: string;
  prompt: string;
  mode: SessionMode;
  status: SessionStatus;
  branch: string;
  agent: string;
  model: string | null;
  prUrl: string | null;
  prNumber: number | null;
  result: SessionResult | null;
  error: string | null;
  /** Where the task came from, so replies can go back there. Opaque to the engine. */
  origin: TaskOrigin;
  options: TaskOptions;
  usage: TokenUsage;
  createdAt: string;
  updatedAt: string;
}

export type MessageRole = 'user' | 'assistant';

export interface Message {
  id: number;
  sessionId: string;
  role: MessageRole;
  content: string;
  createdAt: string;
}

/**
 * Event types. `status` carries the new status; `output` agent text and tool output; `tool` a tool
 * call the agent made; `step` "Step i/n: title"; `progress` {step,total,title,status}; `error` the
 * reason a session failed; `result` the SessionResult; `usage` token usage so far; `setup` the
 * workspace setup's {status, durationMs, commands} (`running`, then `passed`, `failed` or
 * `skipped`); `done` is last.
 */
export type SessionEventType =
  | 'status'
  | 'output'
  | 'tool'
  | 'step'
  | 'progress'
  | 'error'
  | 'result'
  | 'usage'
  | 'setup'
  | 'done';

export interface SessionEvent {
  /** Increasing across the whole store; SSE uses it as the event id. */
  id: number;
  sessionId: string;
  type: SessionEventType;
  /** Any JSON value: a string for status/output/error/step, an object for the others. */
  data: unknown;
  createdAt: string;
}

/** Who asked and where to answer. Each door defines its own `kind`; the engine never looks inside. */
export interface TaskOrigin {
  kind: string;
  /** Free-form description of the requester, for logs and PR bodies (e.g. a GitHub login). */
  requestedBy?: string;
  [key: string]: unknown;
}

/** A normalized request to do work, whichever door it came through. */
export interface TaskRequest {
  repo: string;
  prompt: string;
  mode?: SessionMode;
  agent?: string;
  model?: string;
  origin?: TaskOrigin;
  options?: TaskOptions;
  /**
   * An id the door received the request under (GitHub's X-GitHub-Delivery). Recorded with the
   * session in one transaction: a second request with the same id creates nothing.
   */
  deliveryId?: string;
}

export function isFinal(status: SessionStatus): boolean {
  return FINAL_STATUSES.has(status);
}

export function branchFor(sessionId: string): string {
  return `telecoder/${sessionId}`;
}
