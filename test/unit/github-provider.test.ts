import nock from 'nock';
import { describe, expect, it } from 'vitest';
import { TeleCoderError } from '../../src/errors.js';
import { GitHubProvider } from '../../src/gitprovider/github-provider.js';
import { StaticTokenSource } from '../../src/gitprovider/static-token-source.js';
import { setupGitHubMock } from '../helpers/github-mock.js';

const TOKEN = 'ghp_unitTESTtoken0123456789abcdefABCDEF';

async function rejectionOf(promise: Promise<unknown>): Promise<TeleCoderError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(TeleCoderError);
    return error as TeleCoderError;
  }
  throw new Error('expected the call to fail');
}

describe('GitHubProvider against GitHub\'s REST API (nock)', () => {
  const github = setupGitHubMock();
  const provider = new GitHubProvider({ tokenSource: new StaticTokenSource(TOKEN) });

  it('handles owner/name only', () => {
    for (const repo of ['octocat/hello-world', 'a-b/c.d_e-f', 'Org1/.github']) expect(provider.handles(repo), repo).toBe(true);
    for (const repo of ['/srv/repo', 'file:///srv/repo', 'octocat', 'a/b/c', 'a/..', 'a/.', 'a_b/c', 'https://github.com/a/b', 'a/b c', ''])
      expect(provider.handles(repo), repo).toBe(false);
  });

  it('access: reads the default branch with the token and hands git the credential only as environment', async () => {
    github.scope
      .get('/repos/acme/widgets')
      .matchHeader('authorization', `token ${TOKEN}`)
      .reply(200, { default_branch: 'develop', html_url: 'https://github.com/acme/widgets' });
    const access = await provider.access('acme/widgets');
    const basic = Buffer.from(`x-access-token:${TOKEN}`).toString('base64');
    expect(access).toEqual({
      repo: 'acme/widgets',
      cloneUrl: 'https://github.com/acme/widgets.git',
      defaultBranch: 'develop',
      webUrl: 'https://github.com/acme/widgets',
      gitEnv: {
        GIT_CONFIG_COUNT: '1',
        GIT_CONFIG_KEY_0: 'http.https://github.com/.extraheader',
        GIT_CONFIG_VALUE_0: `AUTHORIZATION: basic ${basic}`,
      },
    });
    expect(access.cloneUrl).not.toContain(TOKEN);
  });

  it('access on GitHub Enterprise: API and git URLs are the configured ones', async () => {
    const ghes = new GitHubProvider({
      tokenSource: new StaticTokenSource(TOKEN),
      apiUrl: 'https://ghe.example.com/api/v3',
      gitUrl: 'https://ghe.example.com/',
    });
    nock('https://ghe.example.com').get('/api/v3/repos/acme/widgets').reply(200, { default_branch: 'main', html_url: 'https://ghe.example.com/acme/widgets' });
    const access = await ghes.access('acme/widgets');
    expect(access.cloneUrl).toBe('https://ghe.example.com/acme/widgets.git');
    expect(access.gitEnv.GIT_CONFIG_KEY_0).toBe('http.https://ghe.example.com/.extraheader');
  });

  it('access: 404 says the repository is missing or invisible to GITHUB_TOKEN, and how to give it access', async () => {
    github.scope.get('/repos/acme/ghost').reply(404, { message: 'Not Found', documentation_url: 'https://docs.github.com' });
    const error = await rejectionOf(provider.access('acme/ghost'));
    expect(error).toBeInstanceOf(TeleCoderError);
    expect(error.message).toBe(
      'GitHub repository acme/ghost was not found, or GITHUB_TOKEN cannot see it: check the name, and give the token access ' +
        'to acme/ghost (a fine-grained token: add the repository to it; a classic token: the repo scope)',
    );
    expect(error.status).toBe(404);
  });

  it('access: 401 says GitHub rejected GITHUB_TOKEN (not that it is missing), without the token', async () => {
    github.scope.get('/repos/acme/widgets').reply(401, { message: 'Bad credentials' });
    const error = await rejectionOf(provider.access('acme/widgets'));
    expect(error.message).toBe(
      'GitHub rejected GITHUB_TOKEN while reading repository acme/widgets (401: Bad credentials): it is wrong, expired or ' +
        'revoked; replace it with a valid token and restart the server',
    );
    expect(error.message).not.toMatch(/set GITHUB_TOKEN|no GitHub token/);
    expect(error.message).not.toContain(TOKEN);
  });

  it('access: 403 says what GITHUB_TOKEN lacks; a rate limit is named as one', async () => {
    github.scope.get('/repos/acme/widgets').reply(403, { message: 'Resource not accessible by personal access token' });
    const lacking = await rejectionOf(provider.access('acme/widgets'));
    expect(lacking.message).toBe(
      'GITHUB_TOKEN lacks access for reading repository acme/widgets (403: Resource not accessible by personal access token): ' +
        'it needs Contents and Pull requests read and write permission on the repository (a classic token: the repo scope)',
    );
    github.scope.get('/repos/acme/widgets').reply(403, { message: 'API rate limit exceeded for user ID 1.' }, { 'x-ratelimit-remaining': '1' });
    const limited = await rejectionOf(provider.access('acme/widgets'));
    expect(limited.message).toMatch(/^GitHub's rate limit stopped reading repository acme\/widgets \(403: API rate limit exceeded/);
  });

  it('openPullRequest: posts the pull request and returns its URL and number', async () => {
    const sent: unknown[] = [];
    github.scope
      .post('/repos/acme/widgets/pulls', (body: unknown) => {
        sent.push(body);
        return true;
      })
      .reply(201, { html_url: 'https://github.com/acme/widgets/pull/7', number: 7 });
    const pr = await provider.openPullRequest({ repo: 'acme/widgets', head: 'telecoder/abc', base: 'develop', title: 'Add it', body: 'Body', draft: true });
    expect(pr).toEqual({ url: 'https://github.com/acme/widgets/pull/7', number: 7 });
    expect(sent).toEqual([{ title: 'Add it', head: 'telecoder/abc', base: 'develop', body: 'Body', draft: true }]);
  });

  it('openPullRequest: 422 carries GitHub\'s own explanation', async () => {
    github.scope.post('/repos/acme/widgets/pulls').reply(422, {
      message: 'Validation Failed',
      errors: [{ resource: 'PullRequest', code: 'custom', message: 'A pull request already exists for acme:telecoder/abc.' }],
    });
    const error = await rejectionOf(
      provider.openPullRequest({ repo: 'acme/widgets', head: 'telecoder/abc', base: 'main', title: 't', body: 'b' }),
    );
    expect(error.message).toBe(
      'GitHub could not complete opening a pull request from telecoder/abc into main of acme/widgets (422): ' +
        'Validation Failed; A pull request already exists for acme:telecoder/abc.',
    );
    expect(error.status).toBe(422);
  });

  it('openPullRequest: 401 and 403 say what the token lacks', async () => {
    github.scope.post('/repos/acme/widgets/pulls').reply(401, { message: 'Bad credentials' });
    github.scope.post('/repos/acme/widgets/pulls').reply(403, { message: 'Resource not accessible by personal access token' });
    const input = { repo: 'acme/widgets', head: 'telecoder/abc', base: 'main', title: 't', body: 'b' };
    await expect(provider.openPullRequest(input)).rejects.toThrow(/^GitHub rejected GITHUB_TOKEN while opening a pull request/);
    await expect(provider.openPullRequest(input)).rejects.toThrow(
      /^GITHUB_TOKEN lacks access for opening a pull request .* \(403: Resource not accessible by personal access token\): it needs Contents and Pull requests read and write/,
    );
  });

  it('a 5xx is retried after a second and the call succeeds', async () => {
    github.scope
      .get('/repos/acme/widgets')
      .reply(502, { message: 'Bad Gateway' })
      .get('/repos/acme/widgets')
      .reply(200, { default_branch: 'main', html_url: 'https://github.com/acme/widgets' });
    const started = Date.now();
    const access = await provider.access('acme/widgets');
    expect(access.defaultBranch).toBe('main');
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it('a 429 rate limit waits for retry-after and then succeeds', async () => {
    github.scope
      .post('/repos/acme/widgets/pulls')
      .reply(429, { message: 'API rate limit exceeded' }, { 'retry-after': '1', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(Math.ceil(Date.now() / 1000) + 1) })
      .post('/repos/acme/widgets/pulls')
      .reply(201, { html_url: 'https://github.com/acme/widgets/pull/5', number: 5 });
    const pr = await provider.openPullRequest({ repo: 'acme/widgets', head: 'telecoder/x', base: 'main', title: 't', body: 'b' });
    expect(pr).toEqual({ url: 'https://github.com/acme/widgets/pull/5', number: 5 });
  });

  it('an unreachable API is named as such', async () => {
    const unreachable = new GitHubProvider({ tokenSource: new StaticTokenSource(TOKEN), apiUrl: 'http://127.0.0.1:1' });
    const error = await rejectionOf(unreachable.access('acme/widgets'));
    expect(error.message).toMatch(/^could not reach GitHub at http:\/\/127\.0\.0\.1:1 while reading repository acme\/widgets: /);
    expect(error.message).not.toContain(TOKEN);
  });

  it('without a token, fails before any request with how to fix it (503: the server lacks the setting)', async () => {
    const tokenless = new GitHubProvider({ tokenSource: new StaticTokenSource(undefined) });
    const missing = await rejectionOf(tokenless.access('acme/widgets'));
    expect(missing.message).toMatch(
      /^this server has no GitHub token to reach acme\/widgets: set GITHUB_TOKEN to a token with contents and pull_requests write access/,
    );
    expect(missing.status).toBe(503);
    await expect(tokenless.check('acme/widgets')).rejects.toThrow(/set GITHUB_TOKEN/);
    await expect(provider.check('acme/widgets')).resolves.toBeUndefined();
    await expect(new StaticTokenSource('  ').getToken('acme/widgets')).rejects.toThrow(/set GITHUB_TOKEN/);
    await expect(new StaticTokenSource(` ${TOKEN}\n`).getToken('acme/widgets')).resolves.toBe(TOKEN);
  });
});
