import { describe, expect, it } from 'vitest';
import { checkGate, TOKEN_KEY, type TokenStorage } from '../../web/src/api/token-gate.js';

const INFO = { version: '0.1.0', github_app: { configured: true, setup_url: '/probot' }, budget: { max_tokens: null, max_cost_usd: null }, recent_repos: [] };

function memoryStorage(initial: Record<string, string> = {}): TokenStorage & { items: Record<string, string> } {
  const items = { ...initial };
  return {
    items,
    getItem: (key) => items[key] ?? null,
    setItem: (key, value) => {
      items[key] = value;
    },
    removeItem: (key) => {
      delete items[key];
    },
  };
}

/** A server that wants `token` (or none, when null) on /api/info; records the headers it got. */
function server(token: string | null) {
  const authorizations: Array<string | undefined> = [];
  const fetch = async (url: RequestInfo | URL, init?: RequestInit) => {
    // Asked without credentials, as the real server answers it.
    if (url === '/api/auth') return Response.json({ token_required: token !== null });
    expect(url).toBe('/api/info');
    const authorization = (init?.headers as Record<string, string>).Authorization;
    authorizations.push(authorization);
    const ok = token === null || authorization === `Bearer ${token}`;
    return ok ? Response.json(INFO) : Response.json({ error: 'unauthorized' }, { status: 401 });
  };
  return { fetch: fetch as typeof globalThis.fetch, authorizations };
}

describe('checkGate', () => {
  it('opens without a token when the server needs none', async () => {
    const { fetch, authorizations } = server(null);
    expect(await checkGate({ fetch, storage: memoryStorage() })).toEqual({ kind: 'open', token: null, info: INFO });
    expect(authorizations).toEqual([undefined]);
  });

  it('asks for a token when the server needs one, without sending any request it would refuse (a 401 the browser logs)', async () => {
    const { fetch, authorizations } = server('s3cret');
    expect(await checkGate({ fetch, storage: memoryStorage() })).toEqual({ kind: 'needs-token', rejected: false });
    expect(authorizations).toEqual([]);
  });

  it('keeps an accepted token in storage and sends it as a bearer token', async () => {
    const storage = memoryStorage();
    const { fetch, authorizations } = server('s3cret');
    expect(await checkGate({ fetch, storage, candidate: 's3cret' })).toMatchObject({ kind: 'open', token: 's3cret' });
    expect(storage.items[TOKEN_KEY]).toBe('s3cret');
    expect(authorizations).toEqual(['Bearer s3cret']);
  });

  it('uses the stored token on a reload', async () => {
    const { fetch } = server('s3cret');
    expect(await checkGate({ fetch, storage: memoryStorage({ [TOKEN_KEY]: 's3cret' }) })).toMatchObject({ kind: 'open', token: 's3cret' });
  });

  it('forgets a refused token and says it was refused', async () => {
    const storage = memoryStorage({ [TOKEN_KEY]: 'old' });
    expect(await checkGate({ fetch: server('new').fetch, storage })).toEqual({ kind: 'needs-token', rejected: true });
    expect(storage.items).toEqual({});
  });

  it('reports a server that cannot be reached or fails', async () => {
    const down = (async () => {
      throw new TypeError('fetch failed');
    }) as typeof fetch;
    expect(await checkGate({ fetch: down, storage: memoryStorage() })).toMatchObject({ kind: 'error', message: expect.stringContaining('fetch failed') });
    const broken = (async () => new Response('', { status: 500 })) as typeof fetch;
    expect(await checkGate({ fetch: broken, storage: memoryStorage() })).toMatchObject({ kind: 'error', message: expect.stringContaining('500') });
  });
});
