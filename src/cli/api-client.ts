import type { CachePruneJson, MessageJson, RepositoryCacheJson, SessionEventJson, SessionJson } from '../http/session-json.js';
import { CliError } from './cli-io.js';

export type { CachePruneJson, MessageJson, RepositoryCacheJson, SessionEventJson, SessionJson };

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

export interface ApiClientOptions {
  server: string;
  token?: string | undefined;
  fetch: typeof globalThis.fetch;
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

  constructor(options: ApiClientOptions) {
    this.server = options.server.replace(/\/+$/, '');
    this.#token = options.token;
    this.#fetch = options.fetch;
  }

  createSession(input: CreateSessionInput): Promise<{ id: string; branch: string; mode: string }> {
    return this.#json('POST', '/api/sessions', input);
  }

  listSessions(limit?: number): Promise<SessionJson[]> {
    return this.#json('GET', `/api/sessions${limit === undefined ? '' : `?limit=${limit}`}`);
  }

  getSession(id: string): Promise<SessionJson> {
    return this.#json('GET', `/api/sessions/${encodeURIComponent(id)}`);
  }

  stopSession(id: string): Promise<SessionJson> {
    return this.#json('POST', `/api/sessions/${encodeURIComponent(id)}/stop`);
  }

  listCaches(): Promise<RepositoryCacheJson[]> {
    return this.#json('GET', '/api/caches');
  }

  /** Frees the caches of `repos`; without them, of every repository. */
  pruneCaches(repos?: readonly string[]): Promise<CachePruneJson> {
    return this.#json('POST', '/api/caches/prune', repos && repos.length > 0 ? { repos } : undefined);
  }

  /** Opens the event stream; the caller reads and cancels the body. */
  async openEvents(id: string, lastEventId: number | undefined, signal: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { Accept: 'text/event-stream' };
    if (lastEventId !== undefined && lastEventId > 0) headers['Last-Event-ID'] = String(lastEventId);
    const response = await this.#send('GET', `/api/sessions/${encodeURIComponent(id)}/events`, { headers, signal });
    if (!response.ok) throw await this.#errorOf(response);
    return response;
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

  async #json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.#send(method, path, {
      headers: { Accept: 'application/json', ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    if (!response.ok) throw await this.#errorOf(response);
    try {
      return (await response.json()) as T;
    } catch {
      throw new CliError(`the server at ${this.server} did not answer with JSON; is --server a TeleCoder server?`);
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
