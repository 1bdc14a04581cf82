// @vitest-environment happy-dom
// @vitest-environment-options {"url": "http://127.0.0.1:7080/"}
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createRoot, type Root } from 'react-dom/client';
import { App } from '../../web/src/components/App.js';
import { infoJson, sessionJson } from './session-fixture.js';

const CHAT = sessionJson({ id: 'chat1', prompt: 'what does the limiter do?', mode: 'chat', status: 'idle', model: 'gpt-4.1' });
const INFO = infoJson({ recent_repos: ['acme/api', 'acme/web'] });

function openStream(text: string): Response {
  const body = new ReadableStream<Uint8Array>({ start: (controller) => controller.enqueue(new TextEncoder().encode(text)) });
  return new Response(body, { headers: { 'Content-Type': 'text/event-stream' } });
}

function fakeServer() {
  const posts: Array<{ url: string; body: unknown }> = [];
  const fetch = vi.fn(async (url: RequestInfo | URL, init?: RequestInit) => {
    const method = init?.method ?? 'GET';
    if (method === 'POST') posts.push({ url: String(url), body: init?.body ? JSON.parse(String(init.body)) : undefined });
    switch (`${method} ${String(url)}`) {
      case 'GET /api/info':
        return Response.json(INFO);
      case 'GET /api/sessions/stream':
        return openStream(`event: snapshot\ndata: ${JSON.stringify({ sessions: [] })}\n\n`);
      case 'POST /api/sessions':
        return Response.json({ id: 'chat1', branch: 'telecoder/chat1', mode: 'chat' }, { status: 201 });
      case 'GET /api/sessions/chat1':
        return Response.json(CHAT);
      case 'GET /api/sessions/chat1/events':
        return openStream('');
      case 'GET /api/sessions/chat1/messages':
        return Response.json([{ id: 1, session_id: 'chat1', role: 'user', content: CHAT.prompt, created_at: CHAT.created_at }]);
      case 'POST /api/sessions/chat1/messages':
        return Response.json({ id: 2, session_id: 'chat1', role: 'user', content: 'add a test', created_at: CHAT.created_at }, { status: 202 });
      case 'POST /api/sessions/chat1/pr':
        return Response.json({ url: 'https://github.com/acme/api/pull/7', number: 7, branch: 'telecoder/chat1' }, { status: 201 });
      case 'GET /api/sessions/chat1/diff':
        return Response.json({ error: 'the chat has changed nothing yet' }, { status: 409 });
      default:
        return Response.json({ error: 'not found' }, { status: 404 });
    }
  });
  return { fetch, posts };
}

async function waitFor<T>(find: () => T | null | undefined): Promise<T> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const found = find();
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`timed out; the page shows: ${document.body.textContent}`);
}

function type(element: HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement, value: string): void {
  const prototype = Object.getPrototypeOf(element) as object;
  Object.getOwnPropertyDescriptor(prototype, 'value')!.set!.call(element, value);
  element.dispatchEvent(new Event(element instanceof HTMLSelectElement ? 'change' : 'input', { bubbles: true }));
}

let root: Root | undefined;
afterEach(() => {
  root?.unmount();
  document.body.innerHTML = '';
  vi.unstubAllGlobals();
});

describe('starting a chat from the form', () => {
  it('posts the form, opens the new session, sends a message and creates the pull request', async () => {
    const server = fakeServer();
    vi.stubGlobal('fetch', server.fetch);
    const container = document.body.appendChild(document.createElement('div'));
    root = createRoot(container);
    root.render(<App />);

    const form = await waitFor(() => container.querySelector<HTMLFormElement>('[data-testid="start-form"]'));
    // The repository field suggests the server's recent repositories.
    expect([...container.querySelectorAll('#recent-repos option')].map((option) => option.getAttribute('value'))).toEqual(['acme/api', 'acme/web']);
    type(form.querySelector('[data-testid="start-prompt"]')!, CHAT.prompt);
    type(form.querySelector('[data-testid="start-mode"]')!, 'chat');
    type(form.querySelector('[data-testid="start-model"]')!, 'gpt-4.1');
    type(form.querySelector('[data-testid="start-agent"]')!, 'codex');
    form.requestSubmit();

    await waitFor(() => container.querySelector('[data-testid="chat"]'));
    expect(location.pathname).toBe('/sessions/chat1');
    expect(server.posts[0]).toEqual({ url: '/api/sessions', body: { repo: 'acme/api', prompt: CHAT.prompt, mode: 'chat', agent: 'codex', model: 'gpt-4.1' } });
    await waitFor(() => container.querySelector('[data-testid="chat-message"]'));
    expect(container.querySelector('[data-testid="no-diff"]')?.textContent).toBe('the chat has changed nothing yet');

    type(container.querySelector('[data-testid="chat-input"]')!, 'add a test');
    container.querySelector<HTMLFormElement>('[data-testid="chat"] form')!.requestSubmit();
    await waitFor(() => container.querySelectorAll('[data-testid="chat-message"]').length === 2);
    expect(server.posts[1]).toEqual({ url: '/api/sessions/chat1/messages', body: { content: 'add a test' } });

    await waitFor(() => !container.querySelector<HTMLButtonElement>('[data-testid="create-pr"]')!.disabled);
    container.querySelector<HTMLButtonElement>('[data-testid="create-pr"]')!.click();
    const note = await waitFor(() => container.querySelector('[data-testid="chat-note"]'));
    expect(note.textContent).toContain('https://github.com/acme/api/pull/7');
    expect(server.posts[2]).toEqual({ url: '/api/sessions/chat1/pr', body: undefined });
  });
});
