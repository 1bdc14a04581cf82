import { HttpError } from './sse-reader.js';
import { authHeaders } from './token-gate.js';
import type { MessageJson, NewSessionJson, SessionJson } from './types.js';

/** The REST calls the dashboard makes; errors carry the server's `{error}` text and status. */
export class ApiClient {
  constructor(
    readonly token: string | null,
    private readonly onUnauthorized: () => void,
    private readonly doFetch: typeof fetch = (...args) => fetch(...args),
  ) {}

  get headers(): Record<string, string> {
    return authHeaders(this.token);
  }

  async #request(method: string, path: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = { ...this.headers };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const response = await this.doFetch(path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    if (response.status === 401) this.onUnauthorized();
    if (!response.ok) throw new HttpError(response.status, await errorText(response));
    return response;
  }

  async #json<T>(method: string, path: string, body?: unknown): Promise<T> {
    return (await (await this.#request(method, path, body)).json()) as T;
  }

  session(id: string): Promise<SessionJson> {
    return this.#json('GET', `/api/sessions/${encodeURIComponent(id)}`);
  }

  /** The unified diff; null with the server's reason when there is none (409). */
  async diff(id: string): Promise<{ diff: string } | { none: string }> {
    try {
      return { diff: await (await this.#request('GET', `/api/sessions/${encodeURIComponent(id)}/diff`)).text() };
    } catch (error) {
      if (error instanceof HttpError && error.status === 409) return { none: error.message };
      throw error;
    }
  }

  messages(id: string): Promise<MessageJson[]> {
    return this.#json('GET', `/api/sessions/${encodeURIComponent(id)}/messages`);
  }

  sendMessage(id: string, content: string): Promise<MessageJson> {
    return this.#json('POST', `/api/sessions/${encodeURIComponent(id)}/messages`, { content });
  }

  createPr(id: string): Promise<{ url: string | null; number: number | null; branch: string; warning?: string }> {
    return this.#json('POST', `/api/sessions/${encodeURIComponent(id)}/pr`);
  }

  stop(id: string): Promise<SessionJson> {
    return this.#json('POST', `/api/sessions/${encodeURIComponent(id)}/stop`);
  }

  create(request: NewSessionJson): Promise<{ id: string; branch: string; mode: string }> {
    return this.#json('POST', '/api/sessions', request);
  }
}

async function errorText(response: Response): Promise<string> {
  const text = await response.text();
  try {
    const body = JSON.parse(text) as { error?: unknown };
    if (typeof body.error === 'string') return body.error;
  } catch {
    // not JSON: the text itself says it
  }
  return text || `the server answered ${response.status}`;
}
