// @vitest-environment happy-dom
// @vitest-environment-options {"url": "http://127.0.0.1:7080/sessions/abc123"}
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createRoot, type Root } from 'react-dom/client';
import { App } from '../../web/src/components/App.js';
import { infoJson, sessionJson } from './session-fixture.js';

const SESSION = sessionJson({ id: 'abc123', prompt: 'add a rate limiter', status: 'running', created_at: '2026-11-27T10:00:00.000Z', updated_at: '2026-11-27T10:00:05.000Z', usage: { input_tokens: 1200, output_tokens: 300, turns: 2, cost_usd: 0.25 } });
const INFO = infoJson({ budget: { max_tokens: 100000, max_cost_usd: 5 } });
const DIFF = ['diff --git a/src/limit.ts b/src/limit.ts', 'new file mode 100644', '--- /dev/null', '+++ b/src/limit.ts', '@@ -0,0 +1 @@', '+export const limit = 10;', ''].join('\n');

function sse(text: string, keepOpen = false): Response {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(text));
      if (!keepOpen) controller.close();
    },
  });
  return new Response(body, { headers: { 'Content-Type': 'text/event-stream' } });
}

function event(id: number, type: string, data: unknown, second: number): string {
  const json = { id, session_id: 'abc123', type, data, created_at: `2026-11-27T10:00:${String(second).padStart(2, '0')}.000Z` };
  return `id: ${id}\nevent: ${type}\ndata: ${JSON.stringify(json)}\n\n`;
}

/** A loopback server without a token; the event stream drops once, after event 3. */
function fakeServer() {
  const requests: Array<{ method: string; url: string; lastEventId: string | undefined }> = [];
  let eventConnections = 0;
  const fetch = vi.fn(async (url: RequestInfo | URL, init?: RequestInit) => {
    const method = init?.method ?? 'GET';
    requests.push({ method, url: String(url), lastEventId: (init?.headers as Record<string, string> | undefined)?.['Last-Event-ID'] });
    switch (`${method} ${String(url)}`) {
      case 'GET /api/info':
        return Response.json(INFO);
      case 'GET /api/sessions/stream':
        return sse(`event: snapshot\ndata: ${JSON.stringify({ sessions: [SESSION] })}\n\n`, true);
      case 'GET /api/sessions/abc123':
        return Response.json(SESSION);
      case 'GET /api/sessions/abc123/events':
        eventConnections++;
        return eventConnections === 1
          ? sse(event(1, 'status', 'running', 0) + event(2, 'step', 'Step 1/1: add the limiter', 1) + event(3, 'progress', { step: 1, total: 1, title: 'add the limiter', status: 'coding' }, 1))
          : sse(event(4, 'output', '✅ test', 4) + event(5, 'progress', { step: 1, total: 1, title: 'add the limiter', status: 'done' }, 5), true);
      case 'GET /api/sessions/abc123/diff':
        return new Response(DIFF, { headers: { 'Content-Type': 'text/x-diff' } });
      case 'POST /api/sessions/abc123/stop':
        return Response.json({ ...SESSION, status: 'stopped', updated_at: '2026-11-27T10:01:00.000Z' });
      default:
        return Response.json({ error: 'not found' }, { status: 404 });
    }
  });
  return { fetch, requests };
}

async function waitFor<T>(find: () => T | null | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = find();
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`timed out; the page shows: ${document.body.textContent}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

let root: Root | undefined;
afterEach(() => {
  root?.unmount();
  document.body.innerHTML = '';
  vi.unstubAllGlobals();
});

describe('the session page', () => {
  it('streams events, resumes after a drop with Last-Event-ID, shows timeline, usage and diff, and stops', async () => {
    const server = fakeServer();
    vi.stubGlobal('fetch', server.fetch);
    const container = document.body.appendChild(document.createElement('div'));
    root = createRoot(container);
    root.render(<App />);

    const page = await waitFor(() => container.querySelector('[data-testid="session-page"]'));
    expect(page.getAttribute('data-session-id')).toBe('abc123');
    expect(container.querySelector('[data-testid="usage-tokens"]')?.textContent).toBe('1,500 tokens of 100,000');
    expect(container.querySelector('[data-testid="usage-cost"]')?.textContent).toBe('$0.2500 of $5.00');
    expect(container.querySelector('[data-testid="session-agent"]')?.textContent).toBe('builtin');

    // A running task has no change yet: the panel says so instead of asking (a 409 the browser would log).
    expect((await waitFor(() => container.querySelector('[data-testid="no-diff"]'))).textContent).toMatch(/once the session has made it/);
    expect(server.requests.some((request) => request.url.endsWith('/diff'))).toBe(false);

    // The first connection ends after event 3; the client waits, then asks for what came after it.
    await waitFor(() => container.querySelector('.check-passed'), 6000);
    const resumed = server.requests.filter((request) => request.url === '/api/sessions/abc123/events');
    expect(resumed.map((request) => request.lastEventId)).toEqual([undefined, '3']);
    const step = container.querySelector('[data-testid="timeline-step"]')!;
    expect(step.textContent).toContain('Step 1/1: add the limiter');
    expect(step.textContent).toContain('done in 4.0 s');
    expect(container.querySelectorAll('[data-testid="event"]')).toHaveLength(5);

    (container.querySelector('[data-testid="stop"]') as HTMLButtonElement).click();
    await waitFor(() => container.querySelector('[data-testid="session-page"][data-status="stopped"]'));
    expect(server.requests.some((request) => request.method === 'POST' && request.url === '/api/sessions/abc123/stop')).toBe(true);
    expect(container.querySelector('[data-testid="run-again"]')).not.toBeNull();
  }, 15_000);

  it('shows the diff of a task that delivered its change', async () => {
    const server = fakeServer();
    const delivered = { ...SESSION, status: 'complete', pr_url: 'https://github.com/acme/api/pull/7', pr_number: 7, result: { type: 'pr', content: 'done', pr_url: 'https://github.com/acme/api/pull/7', pr_number: 7 } };
    const fetch = vi.fn(async (url: RequestInfo | URL, init?: RequestInit) => {
      if (String(url) === '/api/sessions/abc123') return Response.json(delivered);
      if (String(url) === '/api/sessions/stream') return sse(`event: snapshot\ndata: ${JSON.stringify({ sessions: [delivered] })}\n\n`, true);
      return server.fetch(url, init);
    });
    vi.stubGlobal('fetch', fetch);
    const container = document.body.appendChild(document.createElement('div'));
    root = createRoot(container);
    root.render(<App />);
    const file = await waitFor(() => container.querySelector('[data-testid="diff-file"]'));
    expect(file.getAttribute('data-path')).toBe('src/limit.ts');
  });
});
