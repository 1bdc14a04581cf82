import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Octokit } from '@octokit/rest';
import { ProbotOctokit } from 'probot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probotOctokitWith } from '../../src/github/app/probot-octokit-with.js';
import { GitHubWriteLimiter, isContentCreating } from '../../src/github/github-write-limiter.js';
import { GitHubProvider } from '../../src/gitprovider/github-provider.js';

/** A stand-in for GitHub's API on loopback that records when each request arrived. */
let server: Server;
let baseUrl: string;
const arrivals: Array<{ method: string; path: string; at: number }> = [];
/** Writes still to be refused with GitHub's secondary-limit 403 (retry-after 1 s). */
let refuseWrites = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    arrivals.push({ method: req.method ?? '', path: req.url ?? '', at: performance.now() });
    req.resume();
    req.on('end', () => {
      if (req.method !== 'GET' && refuseWrites > 0) {
        refuseWrites -= 1;
        res.writeHead(403, { 'content-type': 'application/json', 'retry-after': '1' });
        res.end('{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}');
        return;
      }
      const body = req.url?.endsWith('/pulls') ? '{"number":1,"html_url":"https://github.com/o/r/pull/1"}' : '{"id":1,"default_branch":"main"}';
      res.writeHead(req.method === 'POST' ? 201 : 200, { 'content-type': 'application/json' });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

/** Two clients, as the git provider and the GitHub App have, sharing one limiter (or none). */
function clients(limiter: GitHubWriteLimiter | undefined) {
  const Client = limiter ? Octokit.plugin(limiter.octokitPlugin()) : Octokit;
  return [new Client({ baseUrl, auth: 'token-a' }), new Client({ baseUrl, auth: 'token-b' })];
}

async function burst(limiter: GitHubWriteLimiter | undefined) {
  arrivals.length = 0;
  const [provider, app] = clients(limiter);
  await Promise.all([
    ...Array.from({ length: 6 }, (_, i) => provider!.request('POST /repos/{owner}/{repo}/pulls', { owner: 'o', repo: 'r', head: `h${i}`, base: 'main', title: 't' })),
    ...Array.from({ length: 6 }, (_, i) => app!.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', { owner: 'o', repo: 'r', issue_number: i + 1, body: 'b' })),
    ...Array.from({ length: 6 }, () => app!.request('GET /repos/{owner}/{repo}', { owner: 'o', repo: 'r' })),
    app!.request('POST /app/installations/{installation_id}/access_tokens', { installation_id: 42 }),
  ]);
  const writes = arrivals.filter((arrival) => isContentCreating({ method: arrival.method, url: arrival.path })).map((arrival) => arrival.at);
  const reads = arrivals.filter((arrival) => !isContentCreating({ method: arrival.method, url: arrival.path })).map((arrival) => arrival.at);
  return { writes, reads, started: Math.min(...arrivals.map((arrival) => arrival.at)) };
}

const quietLog = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

describe('GitHubWriteLimiter', () => {
  it("spaces every client's content-creating requests apart, process-wide; reads and token minting do not wait", async () => {
    const { writes, reads, started } = await burst(new GitHubWriteLimiter({ intervalMs: 80 }));
    expect(writes).toHaveLength(12);
    // Starts are spaced 80 ms. Arrivals jitter with the load on this process's event loop, so the
    // whole span is what is checked: 12 writes cannot take 11 intervals unless they were spaced.
    // A loaded machine can delay the first arrival by tens of ms; 11 × 80 ms less a quarter still
    // stands far apart from the unspaced burst (under 400 ms, the next test).
    expect(writes.at(-1)! - writes[0]!).toBeGreaterThanOrEqual(11 * 60);
    // The reads and the token request went out at once, not behind the writes (which take 880 ms).
    expect(Math.max(...reads) - started).toBeLessThan(700);
  });

  it('without it the same burst reaches GitHub at once (what the secondary limits punish)', async () => {
    const { writes } = await burst(undefined);
    expect(writes).toHaveLength(12);
    expect(writes.at(-1)! - writes[0]!).toBeLessThan(400);
  });

  it("Octokit's throttling in Probot's clients and the provider's adds no spacing of its own to the queue's", async () => {
    // Left to itself the plugin spaces a client id's writes 1 s apart and those that notify 3 s,
    // and Probot's webhook clients and the provider's all share the id "no-id": 8 writes would take 21 s.
    arrivals.length = 0;
    const limiter = new GitHubWriteLimiter({ intervalMs: 20 });
    const Probot = probotOctokitWith(limiter);
    const app = new Probot({ baseUrl, auth: { token: 'ghs_installation' } });
    const provider = new GitHubProvider({ tokenSource: { getToken: async () => 'ghs_provider' }, apiUrl: baseUrl, writeLimiter: limiter });
    await Promise.all([
      ...Array.from({ length: 4 }, (_, i) => app.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', { owner: 'o', repo: 'r', issue_number: i + 1, body: 'b' })),
      ...Array.from({ length: 4 }, (_, i) => provider.openPullRequest({ repo: 'o/r', head: `h${i}`, base: 'main', title: 't', body: 'b' })),
    ]);
    const writes = arrivals.filter((arrival) => arrival.method === 'POST').map((arrival) => arrival.at);
    expect(writes).toHaveLength(8);
    expect(writes.at(-1)! - writes[0]!).toBeGreaterThanOrEqual(7 * 15);
    expect(writes.at(-1)! - writes[0]!).toBeLessThan(900);
  });

  it("waits out GitHub's secondary limit and retries, where Probot's own handler gives up (RELIABILITY row 16)", async () => {
    arrivals.length = 0;
    refuseWrites = 1;
    // What Probot hands its clients (getOctokitThrottleOptions): a secondary limit only logs.
    const probotOptions = { baseUrl, auth: { token: 'ghs_installation' }, log: quietLog, throttle: { enabled: true, onRateLimit: () => true, onSecondaryRateLimit: () => undefined } };
    const app = new (probotOctokitWith(new GitHubWriteLimiter({ intervalMs: 1 })))(probotOptions);
    const answer = await app.request('POST /repos/{owner}/{repo}/issues/{issue_number}/reactions', { owner: 'o', repo: 'r', issue_number: 1, content: 'eyes' });
    expect(answer.status).toBe(201);
    const [refused, retried] = arrivals;
    expect(arrivals).toHaveLength(2);
    expect(retried!.at - refused!.at).toBeGreaterThanOrEqual(950);

    refuseWrites = 1;
    const plain = new ProbotOctokit(probotOptions);
    await expect(plain.request('POST /repos/{owner}/{repo}/issues/{issue_number}/reactions', { owner: 'o', repo: 'r', issue_number: 1, content: 'eyes' })).rejects.toMatchObject({
      status: 403,
    });
  });

  it('counts POST, PATCH, PUT and DELETE as content-creating, and not a GET or an installation token', () => {
    for (const method of ['POST', 'PATCH', 'PUT', 'DELETE', 'post']) expect(isContentCreating({ method, url: '/repos/o/r/issues/1/comments' })).toBe(true);
    expect(isContentCreating({ method: 'GET', url: '/repos/o/r' })).toBe(false);
    expect(isContentCreating({ method: 'POST', url: 'https://api.github.com/app/installations/42/access_tokens' })).toBe(false);
    expect(isContentCreating({ method: 'POST', url: '/app/installations/{installation_id}/access_tokens' })).toBe(false);
    expect(() => new GitHubWriteLimiter({ intervalMs: -1 })).toThrow(/≥ 0/);
  });
});
