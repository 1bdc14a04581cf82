import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenOnLoopback } from './listen-on-loopback.js';
import { readBody, sendJson } from './stand-in-http.js';

export interface RecordedPull {
  repo: string;
  head: string;
  base: string;
  title: string;
  draft: boolean;
  /** False while the answer is held back (the pull request exists, its creator never heard). */
  answered: boolean;
}

export interface FakeGitHubApi {
  /** For GITHUB_API_URL. */
  url: string;
  /** Every POST /repos/{owner}/{repo}/pulls, oldest first: two for one head is a duplicate PR. */
  readonly pulls: RecordedPull[];
  /** Requests no route knows, as "METHOD path". */
  readonly unknown: string[];
  /**
   * The next pull request is created (recorded, numbered) but its answer never sent: the client
   * waits as if GitHub were slow, until it gives up or the fake closes.
   */
  holdNextPull(): void;
  /** Resolves when a held pull request has arrived. */
  waitForHeldPull(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The two GitHub REST routes a token-mode task uses (read a repository, open a pull request) on
 * 127.0.0.1, for TeleCoder running in a child process, where nock cannot reach. It answers like
 * GitHub does: 422 for a second pull request from the same head.
 */
export async function startFakeGitHubApi(options: { defaultBranch?: string } = {}): Promise<FakeGitHubApi> {
  const pulls: RecordedPull[] = [];
  const unknown: string[] = [];
  let holdNext = false;
  const heldWaiters: Array<() => void> = [];

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://github.invalid').pathname;
    const repoRoute = /^\/repos\/([^/]+)\/([^/]+)(\/pulls)?$/.exec(path);
    if (req.method === 'GET' && repoRoute && !repoRoute[3]) {
      const repo = `${repoRoute[1]}/${repoRoute[2]}`;
      sendJson(res, 200, { full_name: repo, default_branch: options.defaultBranch ?? 'main', html_url: `https://github.com/${repo}` });
      return;
    }
    if (req.method === 'POST' && repoRoute?.[3]) {
      const repo = `${repoRoute[1]}/${repoRoute[2]}`;
      const body = JSON.parse(await readBody(req)) as { head: string; base: string; title: string; draft?: boolean };
      const duplicate = pulls.some((pull) => pull.repo === repo && pull.head === body.head);
      const pull: RecordedPull = { repo, head: body.head, base: body.base, title: body.title, draft: Boolean(body.draft), answered: false };
      pulls.push(pull);
      if (holdNext) {
        holdNext = false;
        for (const wake of heldWaiters.splice(0)) wake();
        return;
      }
      pull.answered = true;
      if (duplicate) {
        sendJson(res, 422, { message: 'Validation Failed', errors: [{ message: `A pull request already exists for ${body.head}.` }] });
        return;
      }
      const number = pulls.indexOf(pull) + 1;
      sendJson(res, 201, { number, html_url: `https://github.com/${repo}/pull/${number}` });
      return;
    }
    unknown.push(`${req.method} ${path}`);
    sendJson(res, 404, { message: 'Not Found' });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => sendJson(res, 500, { message: String(error) }));
  });
  const url = await listenOnLoopback(server);
  return {
    url,
    pulls,
    unknown,
    holdNextPull: () => {
      holdNext = true;
    },
    waitForHeldPull: () =>
      pulls.some((pull) => !pull.answered) ? Promise.resolve() : new Promise<void>((resolve) => heldWaiters.push(resolve)),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

