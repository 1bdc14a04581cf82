import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for GitHub's REST API on loopback, for the webhook benchmark only (tests use nock).
 * It answers what the TeleCoder app asks while acknowledging and starting a session: installation
 * tokens, the sender's permission, reactions, comments, the repository configuration (none).
 */
export async function startFakeGitHubApi(options: { permission?: string } = {}): Promise<{
  url: string;
  requests: () => number;
  close(): Promise<void>;
}> {
  let count = 0;
  let nextId = 1000;
  const reply = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    count++;
    req.resume();
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0]!.replace(/^\/api\/v3/, '');
      const method = req.method ?? 'GET';
      if (method === 'POST' && /^\/app\/installations\/\d+\/access_tokens$/.test(path)) {
        return reply(res, 201, { token: 'ghs_bench', expires_at: new Date(Date.now() + 3_600_000).toISOString(), permissions: {} });
      }
      if (/\/installation$/.test(path)) return reply(res, 200, { id: 1 });
      if (/\/collaborators\/[^/]+\/permission$/.test(path)) {
        const permission = options.permission ?? 'write';
        return reply(res, 200, { permission, role_name: permission, user: { login: 'someone' } });
      }
      if (/\/contents\//.test(path)) return reply(res, 404, { message: 'Not Found' });
      if (method === 'POST' && /\/reactions$/.test(path)) return reply(res, 201, { id: nextId++, content: 'eyes' });
      if (method === 'POST' && /\/comments$/.test(path)) return reply(res, 201, { id: nextId++, html_url: 'https://github.com/x' });
      if (method === 'PATCH' && /\/comments\/\d+$/.test(path)) return reply(res, 200, { id: 1 });
      if (method === 'GET' && /\/comments$/.test(path)) return reply(res, 200, []);
      if (method === 'GET' && /^\/repos\/[^/]+\/[^/]+$/.test(path)) {
        return reply(res, 200, { default_branch: 'main', html_url: 'https://github.com/bench/repo' });
      }
      return reply(res, 404, { message: `fake GitHub API has no route for ${method} ${path}` });
    });
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => count,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
