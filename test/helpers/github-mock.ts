import nock from 'nock';
import { afterAll, afterEach, beforeAll } from 'vitest';

export interface GitHubMock {
  /** The API base URL the mocks answer for. */
  readonly baseUrl: string;
  /** A nock scope on baseUrl; every interceptor defined on it must be used by the end of the test. */
  readonly scope: nock.Scope;
}

/**
 * Loopback only: test servers on 127.0.0.1, and the Docker engine, whose unix socket requests
 * show up to nock as `localhost:80`.
 */
const LOCAL_HOST = /^(?:127\.0\.0\.1|localhost)(?::\d+)?$/;

function describeRequest(request: unknown): string {
  const r = (request ?? {}) as { method?: string; protocol?: string; host?: string; hostname?: string; path?: string; href?: string };
  if (r.href) return `${r.method ?? 'GET'} ${r.href}`;
  return `${r.method ?? 'GET'} ${r.protocol ?? 'https:'}//${r.host ?? r.hostname ?? '?'}${r.path ?? ''}`;
}

function hostOf(request: unknown): string {
  const r = (request ?? {}) as { host?: string; hostname?: string; getHeader?: (name: string) => unknown };
  const header = typeof r.getHeader === 'function' ? r.getHeader('host') : undefined;
  return String(r.host ?? header ?? r.hostname ?? '');
}

/**
 * GitHub's REST API mocked with nock for the tests of the calling file (call it at the top of a
 * `describe` or the file). No real network request may leave the machine, and after each test it
 * fails the test when a mock went unused or a request matched no mock.
 */
export function setupGitHubMock(options: { baseUrl?: string } = {}): GitHubMock {
  const baseUrl = (options.baseUrl ?? 'https://api.github.com').replace(/\/+$/, '');
  const unmatched: string[] = [];
  // nock passes request options, or (for a mocked host) the request followed by its options.
  const onNoMatch = (request: unknown, requestOptions?: unknown) => {
    const described = requestOptions ?? request;
    if (LOCAL_HOST.test(hostOf(described))) return;
    unmatched.push(describeRequest(described));
  };

  beforeAll(() => {
    if (!nock.isActive()) nock.activate();
    nock.disableNetConnect();
    nock.enableNetConnect((host: string) => LOCAL_HOST.test(host));
    nock.emitter.on('no match', onNoMatch);
  });

  afterEach(() => {
    const pending = nock.pendingMocks();
    const stray = unmatched.splice(0);
    nock.cleanAll();
    const problems: string[] = [];
    if (pending.length > 0) problems.push(`GitHub mocks never called:\n  ${pending.join('\n  ')}`);
    if (stray.length > 0) problems.push(`requests that matched no GitHub mock:\n  ${stray.join('\n  ')}`);
    if (problems.length > 0) throw new Error(problems.join('\n'));
  });

  afterAll(() => {
    nock.emitter.removeListener('no match', onNoMatch);
    nock.cleanAll();
    nock.enableNetConnect();
  });

  return {
    baseUrl,
    get scope() {
      return nock(baseUrl);
    },
  };
}

/** Mocks what a task on acme/widgets asks GitHub, and records the pull request it opens as `number`. */
export function capturePullRequest(github: GitHubMock, number: number): { body?: string; draft?: boolean } {
  const sent: { body?: string; draft?: boolean } = {};
  github.scope
    .get('/repos/acme/widgets')
    .times(2)
    .reply(200, { default_branch: 'main', html_url: 'https://github.com/acme/widgets' })
    .post('/repos/acme/widgets/pulls', (body: { body?: string; draft?: boolean }) => ((sent.body = body.body), (sent.draft = body.draft), true))
    .reply(201, { html_url: `https://github.com/acme/widgets/pull/${number}`, number });
  return sent;
}
