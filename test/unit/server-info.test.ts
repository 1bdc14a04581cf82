import { afterEach, describe, expect, it } from 'vitest';
import type { ServerInfo } from '../../src/http/server-info.js';
import { startApiTestServer, type ApiTestServer } from '../helpers/api-test-server.js';

const INFO: ServerInfo = {
  version: '9.9.9',
  githubApp: { configured: true, setupUrl: null },
  budget: { maxTokens: null, maxCostUsd: null },
};

let server: ApiTestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('GET /api/info', () => {
  it('lists the 20 most recent distinct repositories, newest first', async () => {
    server = await startApiTestServer({ info: INFO });
    for (let i = 0; i < 30; i++) {
      server.service.submit({ repo: `acme/repo-${i}`, prompt: 'first' });
      server.service.submit({ repo: `acme/repo-${i}`, prompt: 'again' });
    }
    const body = (await (await fetch(`${server.url}/api/info`)).json()) as { recent_repos: string[] };
    expect(body).toMatchObject({ version: '9.9.9', github_app: { configured: true, setup_url: null }, budget: { max_tokens: null, max_cost_usd: null } });
    expect(body.recent_repos).toEqual(Array.from({ length: 20 }, (_, i) => `acme/repo-${29 - i}`));
  });

  it('answers 501 saying what is missing when the server was built without its info', async () => {
    server = await startApiTestServer();
    const answer = await fetch(`${server.url}/api/info`);
    expect(answer.status).toBe(501);
    expect(((await answer.json()) as { error: string }).error).toMatch(/pass `info` to createApiHandler/);
  });
});
