import type { InfoJson } from './types.js';

/** Where the token lives: sessionStorage in the page, so it goes when the tab closes. */
export type TokenStorage = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;

export const TOKEN_KEY = 'telecoder.api-token';

export type GateState =
  | { kind: 'checking' }
  /** `rejected`: a token was tried and the server refused it. */
  | { kind: 'needs-token'; rejected: boolean }
  | { kind: 'open'; token: string | null; info: InfoJson }
  | { kind: 'error'; message: string };

export function authHeaders(token: string | null): Record<string, string> {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/**
 * Decides whether the page may show anything: `GET /api/info` with the candidate token (or the
 * stored one). Nothing about sessions is fetched before this answers 200.
 */
export async function checkGate(options: { fetch: typeof fetch; storage: TokenStorage; candidate?: string }): Promise<GateState> {
  const token = options.candidate ?? options.storage.getItem(TOKEN_KEY);
  let response: Response;
  try {
    if (!token) {
      // Asked without credentials first, so a page without a token never draws a 401.
      const auth = await options.fetch('/api/auth');
      if (auth.ok && ((await auth.json()) as { token_required?: unknown }).token_required === true) {
        return { kind: 'needs-token', rejected: false };
      }
    }
    response = await options.fetch('/api/info', { headers: authHeaders(token) });
  } catch (error) {
    return { kind: 'error', message: `The server cannot be reached: ${error instanceof Error ? error.message : String(error)}` };
  }
  if (response.status === 401) {
    options.storage.removeItem(TOKEN_KEY);
    return { kind: 'needs-token', rejected: Boolean(token) };
  }
  if (!response.ok) return { kind: 'error', message: `GET /api/info answered ${response.status}` };
  const info = (await response.json()) as InfoJson;
  if (token) options.storage.setItem(TOKEN_KEY, token);
  return { kind: 'open', token: token || null, info };
}
