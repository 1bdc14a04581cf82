import type { SessionJson } from '../../src/http/session-json.js';

const FINAL = new Set(['complete', 'error', 'stopped']);

/** Starts a session over the HTTP API; throws with the answer unless it is 201. */
export async function createSession(url: string, body: { repo: string; prompt: string; mode?: 'task' | 'chat' }): Promise<SessionJson> {
  const response = await fetch(`${url}/api/sessions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (response.status !== 201) throw new Error(`POST /api/sessions answered ${response.status}: ${text}`);
  return JSON.parse(text) as SessionJson;
}

/** Calls the API with `body` as JSON, if any: the answer's status and its parsed JSON. */
export async function callApi(url: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as any };
}

export async function getSession(url: string, id: string): Promise<SessionJson> {
  const response = await fetch(`${url}/api/sessions/${id}`);
  if (!response.ok) throw new Error(`GET /api/sessions/${id} answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as SessionJson;
}

/** Polls the API until every session is final; throws naming the ones that are not by the deadline. */
export async function waitForFinalSessions(url: string, ids: string[], timeoutMs: number): Promise<SessionJson[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const sessions = await Promise.all(ids.map((id) => getSession(url, id)));
    if (sessions.every((session) => FINAL.has(session.status))) return sessions;
    if (Date.now() > deadline) {
      const open = sessions.filter((session) => !FINAL.has(session.status)).map((session) => `${session.id} ${session.status}`);
      throw new Error(`sessions not final after ${timeoutMs} ms: ${open.join(', ')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
