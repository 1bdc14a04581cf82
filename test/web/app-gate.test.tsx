// @vitest-environment happy-dom
// @vitest-environment-options {"url": "http://127.0.0.1:7080/"}
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createRoot, type Root } from 'react-dom/client';
import { App } from '../../web/src/components/App.js';
import { TOKEN_KEY } from '../../web/src/api/token-gate.js';
import { infoJson, sessionJson } from './session-fixture.js';

const SESSION = sessionJson({ id: 'abc123', prompt: 'add a rate limiter', status: 'running', usage: { input_tokens: 10, output_tokens: 5, turns: 1, cost_usd: 0.0012 }, origin: { kind: 'slack' } });
const INFO = infoJson({ github_app: { configured: false, setup_url: '/probot' }, recent_repos: ['acme/api'] });

/** A server that wants `Bearer s3cret` on every /api route, as with TELECODER_API_TOKEN set. */
function fakeServer() {
  const requests: Array<{ url: string; authorization: string | undefined }> = [];
  const fetch = vi.fn(async (url: RequestInfo | URL, init?: RequestInit) => {
    const authorization = (init?.headers as Record<string, string> | undefined)?.Authorization;
    requests.push({ url: String(url), authorization });
    if (url === '/api/auth') return Response.json({ token_required: true });
    if (authorization !== 'Bearer s3cret') return Response.json({ error: 'unauthorized' }, { status: 401 });
    if (url === '/api/info') return Response.json(INFO);
    if (url === '/api/sessions/stream') {
      // Stays open, as the real stream does; the snapshot comes first.
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(`event: snapshot\ndata: ${JSON.stringify({ sessions: [SESSION] })}\n\n`));
        },
      });
      return new Response(body, { headers: { 'Content-Type': 'text/event-stream' } });
    }
    return Response.json({ error: 'not found' }, { status: 404 });
  });
  return { fetch, requests };
}

async function waitFor<T>(find: () => T | null | undefined): Promise<T> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const found = find();
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`timed out; the page shows: ${document.body.textContent}`);
}

/** Types as a person would: React reads the value through the native setter and an input event. */
function type(input: HTMLInputElement, value: string): void {
  Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')!.set!.call(input, value);
  input.dispatchEvent(new Event('input', { bubbles: true }));
}

let root: Root | undefined;
afterEach(() => {
  root?.unmount();
  document.body.innerHTML = '';
  sessionStorage.clear();
  vi.unstubAllGlobals();
});

describe('the token gate', () => {
  it('shows nothing of any session until the server accepts the token, then lists them live', async () => {
    const server = fakeServer();
    vi.stubGlobal('fetch', server.fetch);
    const container = document.body.appendChild(document.createElement('div'));
    root = createRoot(container);
    root.render(<App />);

    const input = await waitFor(() => container.querySelector<HTMLInputElement>('[data-testid="token-input"]'));
    expect(input.type).toBe('password');
    expect(server.requests.map((request) => request.url)).toEqual(['/api/auth']);
    expect(container.textContent).not.toContain('acme/api');

    type(input, 'wrong');
    container.querySelector('form')!.requestSubmit();
    await waitFor(() => container.querySelector('[role="alert"]'));
    expect(sessionStorage.getItem(TOKEN_KEY)).toBeNull();
    expect(server.requests.map((request) => request.url)).toEqual(['/api/auth', '/api/info']);

    type(await waitFor(() => container.querySelector<HTMLInputElement>('[data-testid="token-input"]')), 's3cret');
    container.querySelector('form')!.requestSubmit();
    const row = await waitFor(() => container.querySelector('[data-testid="session-row"]'));
    expect(row.textContent).toContain('add a rate limiter');
    expect(row.textContent).toContain('slack');
    expect(row.getAttribute('data-status')).toBe('running');
    expect(sessionStorage.getItem(TOKEN_KEY)).toBe('s3cret');
    expect(server.requests.find((request) => request.url === '/api/sessions/stream')?.authorization).toBe('Bearer s3cret');
    // The App is not configured on this server: the banner links to its setup pages.
    expect(container.querySelector('[data-testid="app-banner"] a')?.getAttribute('href')).toBe('/probot');
  });
});
