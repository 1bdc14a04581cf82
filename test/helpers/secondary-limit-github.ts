import type nock from 'nock';
import { installationToken } from './github-app-webhooks.js';

export interface SecondaryLimitOptions {
  /** Content-creating requests allowed in any `windowMs` (GitHub: 80 a minute). */
  limit: number;
  windowMs: number;
  /** Requests allowed in flight at once (GitHub: 100). */
  maxConcurrent: number;
  /** How long the stand-in takes to answer a write, so requests overlap as they do on GitHub. */
  writeLatencyMs?: number;
}

export interface SecondaryLimitGitHub {
  /** Arrival times (ms) of every content-creating request, in order. */
  readonly writes: Array<{ at: number; route: string }>;
  /** Requests refused with a secondary-limit 403: the window was full, or too many were in flight. */
  readonly refused: string[];
  /** The most requests of any kind seen in flight at once. */
  readonly peakConcurrent: number;
  /** The most content-creating requests in any window of `windowMs`. */
  peakPerWindow(): number;
  /** Pull requests opened, as `owner/name#number`. */
  readonly pulls: string[];
  /** The latest body written to each tracking comment, by comment id. */
  readonly comments: Map<number, string>;
}

const CONTENT_CREATING = new Set(['POST', 'PATCH', 'PUT', 'DELETE']);
const ACCESS_TOKENS = /^\/app\/installations\/(\d+)\/access_tokens$/;

/**
 * GitHub's REST API for issue-labelled tasks on any number of repositories `org<N>/repo`, each
 * installed as installation N, with GitHub's secondary rate limits enforced: a content-creating
 * request past `limit` in the sliding window, or any request past `maxConcurrent` in flight, is
 * refused with the 403 GitHub sends (no retry-after). Minting an installation token is not
 * content and is not counted, as on GitHub.
 */
export function secondaryLimitGitHub(scope: nock.Scope, options: SecondaryLimitOptions): SecondaryLimitGitHub {
  const writes: Array<{ at: number; route: string }> = [];
  const refused: string[] = [];
  const pulls: string[] = [];
  const comments = new Map<number, string>();
  let inFlight = 0;
  let peakConcurrent = 0;
  let nextCommentId = 5000;

  const answer = (method: string, path: string, body: unknown): [number, unknown] => {
    const tokens = ACCESS_TOKENS.exec(path);
    if (method === 'POST' && tokens) return [201, installationToken()];
    const repo = /^\/repos\/([^/]+)\/([^/]+)(\/.*)?$/.exec(path);
    if (!repo) return [404, { message: 'Not Found' }];
    const [, owner, name, rest = ''] = repo;
    const installation = Number(/^org(\d+)$/.exec(owner!)?.[1] ?? NaN);
    if (method === 'GET') {
      if (rest === '') return [200, { full_name: `${owner}/${name}`, default_branch: 'main', html_url: `https://github.com/${owner}/${name}` }];
      if (rest === '/installation') return Number.isNaN(installation) ? [404, { message: 'Not Found' }] : [200, { id: installation }];
      if (rest.startsWith('/contents/')) return [404, { message: 'Not Found' }];
      const permission = /^\/collaborators\/([^/]+)\/permission$/.exec(rest);
      if (permission) return [200, { permission: 'admin', role_name: 'admin', user: { login: permission[1] } }];
      if (/^\/issues\/\d+\/comments$/.test(rest)) return [200, []];
      return [404, { message: 'Not Found' }];
    }
    if (method === 'POST' && /^\/issues\/\d+\/reactions$/.test(rest)) return [201, { id: 1, content: 'eyes' }];
    if (method === 'POST' && /^\/issues\/\d+\/comments$/.test(rest)) {
      const id = nextCommentId++;
      comments.set(id, (body as { body: string }).body);
      return [201, { id }];
    }
    const edit = /^\/issues\/comments\/(\d+)$/.exec(rest);
    if (method === 'PATCH' && edit) {
      comments.set(Number(edit[1]), (body as { body: string }).body);
      return [200, { id: Number(edit[1]) }];
    }
    if (method === 'POST' && rest === '/pulls') {
      const number = pulls.length + 1;
      pulls.push(`${owner}/${name}#${number}`);
      return [201, { html_url: `https://github.com/${owner}/${name}/pull/${number}`, number }];
    }
    return [404, { message: 'Not Found' }];
  };

  const windowCount = (at: number) => writes.filter((write) => write.at > at - options.windowMs).length;

  async function handle(this: { req: { method: string } }, uri: string, body: unknown): Promise<[number, unknown]> {
    const method = this.req.method.toUpperCase();
    const path = new URL(uri, 'https://api.github.invalid').pathname;
    inFlight += 1;
    peakConcurrent = Math.max(peakConcurrent, inFlight);
    try {
      if (inFlight > options.maxConcurrent) {
        refused.push(`${method} ${path} (${inFlight} in flight)`);
        return [403, { message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.' }];
      }
      if (CONTENT_CREATING.has(method) && !ACCESS_TOKENS.test(path)) {
        const at = performance.now();
        if (windowCount(at) >= options.limit) {
          refused.push(`${method} ${path}`);
          return [403, { message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.' }];
        }
        writes.push({ at, route: `${method} ${path}` });
        await new Promise((resolve) => setTimeout(resolve, options.writeLatencyMs ?? 0));
      }
      return answer(method, path, body);
    } finally {
      inFlight -= 1;
    }
  }

  for (const method of ['get', 'post', 'patch'] as const) scope[method](/.*/).query(true).reply(handle).persist();

  return {
    writes,
    refused,
    pulls,
    comments,
    get peakConcurrent() {
      return peakConcurrent;
    },
    peakPerWindow: () => Math.max(0, ...writes.map((write) => writes.filter((other) => other.at >= write.at && other.at < write.at + options.windowMs).length)),
  };
}
