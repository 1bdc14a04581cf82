import type { CachePruneJson, MessageJson, RepositoryCacheJson, SessionEventJson, SessionJson } from '../http/session-json.js';
import type { BranchPruneJson } from '../http/branch-service.js';
import { CliError } from './cli-io.js';

export type { CachePruneJson, MessageJson, RepositoryCacheJson, SessionEventJson, SessionJson };

/** POST /api/sessions/:id/pr's answer. */
export interface PullRequestJson {
  url: string | null;
  number: number | null;
  branch: string;
  draft?: boolean;
  held_back?: string[];
  warning?: string;
}

/** The server answered with an error status; `message` is its `{error}` text. */
export class ApiError extends CliError {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message, 1);
    this.name = 'ApiError';
    this.status = status;
  }
}

export class ServerUnreachableError extends CliError {
  constructor(server: string, options?: { cause?: unknown }) {
    super(`cannot reach the TeleCoder server at ${server} — start it with \`telecoder serve\` or pass --server`, 1);
    this.name = 'ServerUnreachableError';
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}

/** The server took the connection but did not answer in time. */
export class ServerTimeoutError extends CliError {
  constructor(server: string, what: string, timeoutMs: number) {
    super(
      `the TeleCoder server at ${server} did not answer ${what} within ${formatSeconds(timeoutMs)}; it may be overloaded or stuck ` +
        '(see its log). Wait with a longer --timeout (or TELECODER_TIMEOUT), e.g. --timeout 2m',
      1,
    );
    this.name = 'ServerTimeoutError';
  }
}

const formatSeconds = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`);

/** Default wait for an answer to a plain request; the event stream is watched differently. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/**
 * Opening a pull request pushes and talks to GitHub (and may wait for a clone): minutes, not
 * seconds, so it gets at least this long.
 */
const PULL_REQUEST_TIMEOUT_MS = 5 * 60_000;

export interface ApiClientOptions {
  server: string;
  token?: string | undefined;
  fetch: typeof globalThis.fetch;
  /** How long a request may wait for its whole answer; default 30 s. */
  timeoutMs?: number;
}

export interface RequestOptions {
  /** Ends the request early (Ctrl-C); the caller sees the abort, not a CliError. */
  signal?: AbortSignal;
}

export interface CreateSessionInput {
  repo: string;
  prompt: string;
  mode?: 'task' | 'chat';
  agent?: string;
  model?: string;
}

/** The REST API as the CLI uses it. Every failure becomes a CliError with a one-line message. */
export class ApiClient {
  readonly server: string;
  #token: string | undefined;
  #fetch: typeof globalThis.fetch;
  readonly timeoutMs: number;

  constructor(options: ApiClientOptions) {
    this.server = options.server.replace(/\/+$/, '');
    this.#token = options.token;
    this.#fetch = options.fetch;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  }

  createSession(input: CreateSessionInput, options: RequestOptions = {}): Promise<{ id: string; branch: string; mode: string }> {
    return this.#json('POST', '/api/sessions', input, options);
  }

  sendMessage(id: string, content: string, options: RequestOptions = {}): Promise<MessageJson> {
    return this.#json('POST', `/api/sessions/${encodeURIComponent(id)}/messages`, { content }, options);
  }

  createPullRequest(id: string, options: RequestOptions = {}): Promise<PullRequestJson> {
    return this.#json('POST', `/api/sessions/${encodeURIComponent(id)}/pr`, undefined, {
      ...options,
      timeoutMs: Math.max(this.timeoutMs, PULL_REQUEST_TIMEOUT_MS),
    });
  }

  listSessions(limit?: number): Promise<SessionJson[]> {
    return this.#json('GET', `/api/sessions${limit === undefined ? '' : `?limit=${limit}`}`);
  }

  getSession(id: string, options: RequestOptions = {}): Promise<SessionJson> {
    return this.#json('GET', `/api/sessions/${encodeURIComponent(id)}`, undefined, options);
  }

  stopSession(id: string, options: RequestOptions = {}): Promise<SessionJson> {
    return this.#json('POST', `/api/sessions/${encodeURIComponent(id)}/stop`, undefined, options);
  }

  /** The session's change as a unified diff (text). */
  async getDiff(id: string): Promise<string> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const path = `/api/sessions/${encodeURIComponent(id)}/diff`;
    try {
      const response = await this.#send('GET', path, { headers: { Accept: 'text/x-diff, application/json' }, signal: timeout });
      if (!response.ok) throw await this.#errorOf(response);
      return await response.text();
    } catch (error) {
      if (timeout.aborted) throw new ServerTimeoutError(this.server, `GET ${path}`, this.timeoutMs);
      throw error;
    }
  }

  listCaches(): Promise<RepositoryCacheJson[]> {
    return this.#json('GET', '/api/caches');
  }

  /** Frees the caches of `repos`; without them, of every repository. */
  pruneCaches(repos?: readonly string[]): Promise<CachePruneJson> {
    return this.#json('POST', '/api/caches/prune', repos && repos.length > 0 ? { repos } : undefined);
  }

  /** Removes a local repository's merged or abandoned telecoder/* branches (with dryRun, only says which). */
  pruneBranches(input: { repo: string; dryRun?: boolean; includeDelivered?: boolean }): Promise<BranchPruneJson> {
    return this.#json('POST', '/api/repos/prune', {
      repo: input.repo,
      ...(input.dryRun ? { dry_run: true } : {}),
      ...(input.includeDelivered ? { include_delivered: true } : {}),
    });
  }

  /**
   * Opens the event stream; the caller reads and cancels the body, and watches it for silence
   * (the server sends a heartbeat every 15 s). Only the answer's headers are timed here.
   */
  async openEvents(id: string, lastEventId: number | undefined, signal: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { Accept: 'text/event-stream' };
    if (lastEventId !== undefined && lastEventId > 0) headers['Last-Event-ID'] = String(lastEventId);
    const path = `/api/sessions/${encodeURIComponent(id)}/events`;
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), this.timeoutMs);
    try {
      const response = await this.#send('GET', path, { headers, signal: AbortSignal.any([signal, timeout.signal]) });
      if (!response.ok) throw await this.#errorOf(response);
      return response;
    } catch (error) {
      if (timeout.signal.aborted && !signal.aborted) throw new ServerTimeoutError(this.server, `GET ${path}`, this.timeoutMs);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  async #send(
    method: string,
    path: string,
    init: { headers?: Record<string, string>; body?: string; signal?: AbortSignal } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = { ...init.headers };
    if (this.#token) headers.Authorization = `Bearer ${this.#token}`;
    try {
      return await this.#fetch(`${this.server}${path}`, {
        method,
        headers,
        ...(init.body !== undefined ? { body: init.body } : {}),
        ...(init.signal ? { signal: init.signal } : {}),
      });
    } catch (error) {
      if (init.signal?.aborted) throw error;
      throw new ServerUnreachableError(this.server, { cause: error });
    }
  }

  async #json<T>(method: string, path: string, body?: unknown, options: RequestOptions & { timeoutMs?: number } = {}): Promise<T> {
    // A server that takes the connection and never answers would otherwise hold the CLI forever.
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    try {
      const response = await this.#send(method, path, {
        headers: { Accept: 'application/json', ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal,
      });
      if (!response.ok) throw await this.#errorOf(response);
      try {
        return (await response.json()) as T;
      } catch (error) {
        if (signal.aborted) throw error;
        throw new CliError(`the server at ${this.server} did not answer with JSON; is --server a TeleCoder server?`);
      }
    } catch (error) {
      if (timeout.aborted && !options.signal?.aborted) throw new ServerTimeoutError(this.server, `${method} ${path}`, timeoutMs);
      throw error;
    }
  }

  async #errorOf(response: Response): Promise<ApiError> {
    const text = await response.text().catch(() => '');
    let message: string | undefined;
    try {
      const parsed = JSON.parse(text) as { error?: unknown };
      if (typeof parsed.error === 'string') message = parsed.error;
    } catch {
      // Not our JSON: probably not a TeleCoder server, or a proxy in front of it.
    }
    return new ApiError(
      response.status,
      message ?? `the server at ${this.server} answered HTTP ${response.status}; is --server a TeleCoder server?`,
    );
  }
}
