import { retry } from '@octokit/plugin-retry';
import { throttling } from '@octokit/plugin-throttling';
import { Octokit } from '@octokit/rest';
import { TeleCoderError } from '../errors.js';
import type { GitHubWriteLimiter } from '../github/github-write-limiter.js';
import type { GitProvider, PullRequestInput, PullRequestRef, RepoAccess, TokenSource } from './provider.js';

export type OctokitFactory = (options: { token: string; baseUrl: string }) => Octokit;

export interface GitHubProviderOptions {
  tokenSource: TokenSource;
  /** REST API base URL; GitHub Enterprise Server: https://HOST/api/v3. */
  apiUrl?: string;
  /** Base URL git clones from and pushes to. */
  gitUrl?: string;
  octokitFactory?: OctokitFactory;
  /** Spaces this provider's writes (pull requests) with every other GitHub write of the process. */
  writeLimiter?: GitHubWriteLimiter;
}

const REPO_PATTERN = /^[A-Za-z0-9-]+\/[A-Za-z0-9._-]+$/;

/** Retries 5xx (1, 4, 9 s) and waits out primary and secondary rate limits, as GitHub asks. */
const ResilientOctokit = Octokit.plugin(retry, throttling);
const RATE_LIMIT_RETRIES = 3;

const octokitFactoryWith = (Client: typeof ResilientOctokit, writeLimiter?: GitHubWriteLimiter): OctokitFactory => ({ token, baseUrl }) =>
  new Client({
    auth: token,
    baseUrl,
    userAgent: 'telecoder',
    throttle: writeLimiter?.octokitThrottle() ?? {
      onRateLimit: (_retryAfter, _options, _octokit, retryCount) => retryCount < RATE_LIMIT_RETRIES,
      onSecondaryRateLimit: (_retryAfter, _options, _octokit, retryCount) => retryCount < RATE_LIMIT_RETRIES,
    },
    // Octokit logs deprecations and request details to the console by default; errors reach us anyway.
    log: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
  });

/**
 * The environment that hands git a credential for `gitUrl` without writing it anywhere: git reads
 * GIT_CONFIG_COUNT/KEY/VALUE as command-line config, and http.<url>.extraHeader sends it only to
 * URLs under gitUrl (the same header actions/checkout uses).
 */
export function gitCredentialEnv(gitUrl: string, token: string): Record<string, string> {
  const basic = Buffer.from(`x-access-token:${token}`, 'utf8').toString('base64');
  return {
    GIT_CONFIG_COUNT: '1',
    GIT_CONFIG_KEY_0: `http.${gitUrl.replace(/\/+$/, '')}/.extraheader`,
    GIT_CONFIG_VALUE_0: `AUTHORIZATION: basic ${basic}`,
  };
}

interface GitHubErrorShape {
  status: number;
  message: string;
  response?: { data?: unknown };
}

function isRequestError(error: unknown): error is GitHubErrorShape {
  return error instanceof Error && typeof (error as Partial<GitHubErrorShape>).status === 'number';
}

/** GitHub's own explanation: `message` plus the messages of `errors[]` (422 validation details). */
function githubMessage(error: GitHubErrorShape): string {
  const data = error.response?.data as { message?: unknown; errors?: unknown } | undefined;
  const parts: string[] = [];
  if (typeof data?.message === 'string') parts.push(data.message);
  if (Array.isArray(data?.errors)) {
    for (const item of data.errors) {
      if (typeof item === 'string') parts.push(item);
      else if (item && typeof item === 'object') {
        const { message, code, field } = item as { message?: unknown; code?: unknown; field?: unknown };
        if (typeof message === 'string') parts.push(message);
        else if (typeof code === 'string') parts.push(`${typeof field === 'string' ? `${field} ` : ''}${code}`);
      }
    }
  }
  return parts.length > 0 ? parts.join('; ') : error.message;
}

/**
 * GitHub's REST API, with a token from a TokenSource fetched for every operation (installation
 * tokens expire), and git credentials handed out only as environment for one git process.
 */
export class GitHubProvider implements GitProvider {
  readonly name = 'github';
  readonly #tokenSource: TokenSource;
  readonly #apiUrl: string;
  readonly #gitUrl: string;
  readonly #octokitFactory: OctokitFactory;

  constructor(options: GitHubProviderOptions) {
    this.#tokenSource = options.tokenSource;
    this.#apiUrl = (options.apiUrl ?? 'https://api.github.com').replace(/\/+$/, '');
    this.#gitUrl = (options.gitUrl ?? 'https://github.com').replace(/\/+$/, '');
    this.#octokitFactory =
      options.octokitFactory ??
      (options.writeLimiter
        ? octokitFactoryWith(ResilientOctokit.plugin(options.writeLimiter.octokitPlugin()), options.writeLimiter)
        : octokitFactoryWith(ResilientOctokit));
  }

  handles(repo: string): boolean {
    if (!REPO_PATTERN.test(repo)) return false;
    const name = repo.slice(repo.indexOf('/') + 1);
    return name !== '.' && name !== '..';
  }

  /** No request to GitHub: only that a token can be had at all (the first real request tells the rest). */
  async check(repo: string): Promise<void> {
    this.#split(repo);
    this.#tokenSource.check?.(repo);
  }

  async access(repo: string, signal?: AbortSignal): Promise<RepoAccess> {
    const [owner, name] = this.#split(repo);
    const token = await this.#tokenSource.getToken(repo);
    const octokit = this.#octokitFactory({ token, baseUrl: this.#apiUrl });
    let data: { default_branch: string; html_url: string };
    try {
      ({ data } = await octokit.rest.repos.get({ owner, repo: name, request: signal ? { signal } : {} }));
    } catch (error) {
      throw this.#explain(error, `reading repository ${repo}`, { 404: this.#notFound(repo) });
    }
    return {
      repo,
      cloneUrl: `${this.#gitUrl}/${owner}/${name}.git`,
      gitEnv: gitCredentialEnv(this.#gitUrl, token),
      defaultBranch: data.default_branch,
      webUrl: data.html_url,
    };
  }

  async openPullRequest(input: PullRequestInput, signal?: AbortSignal): Promise<PullRequestRef> {
    const [owner, name] = this.#split(input.repo);
    const token = await this.#tokenSource.getToken(input.repo);
    const octokit = this.#octokitFactory({ token, baseUrl: this.#apiUrl });
    try {
      const { data } = await octokit.rest.pulls.create({
        owner,
        repo: name,
        title: input.title,
        head: input.head,
        base: input.base,
        body: input.body,
        draft: input.draft ?? false,
        request: signal ? { signal } : {},
      });
      return { url: data.html_url, number: data.number };
    } catch (error) {
      throw this.#explain(error, `opening a pull request from ${input.head} into ${input.base} of ${input.repo}`, {
        404: this.#notFound(input.repo),
      });
    }
  }

  #split(repo: string): [string, string] {
    if (!this.handles(repo)) {
      throw new TeleCoderError(`"${repo}" is not a GitHub repository name; use owner/name, e.g. octocat/hello-world`);
    }
    const slash = repo.indexOf('/');
    return [repo.slice(0, slash), repo.slice(slash + 1)];
  }

  /** What the token is called in messages: the operator knows it by the setting it came from. */
  get #tokenName(): string {
    return this.#tokenSource.label ?? 'the GitHub token';
  }

  #notFound(repo: string): string {
    return (
      `GitHub repository ${repo} was not found, or ${this.#tokenName} cannot see it: check the name, and give the token ` +
      `access to ${repo} (a fine-grained token: add the repository to it; a classic token: the repo scope)`
    );
  }

  #explain(error: unknown, what: string, overrides: Partial<Record<number, string>>): Error {
    if (error instanceof Error && error.name === 'AbortError') return error;
    // Octokit reports a connection failure as status 500 without a response.
    if (!isRequestError(error) || error.status === 0 || !error.response) {
      const reason = error instanceof Error ? error.message : String(error);
      return new TeleCoderError(`could not reach GitHub at ${this.#apiUrl} while ${what}: ${reason}`, 502);
    }
    const override = overrides[error.status];
    if (override) return new TeleCoderError(override, error.status === 404 ? 404 : 502);
    const detail = githubMessage(error);
    switch (error.status) {
      // Missing, rejected and lacking access are three different fixes, so three different messages.
      case 401:
        return new TeleCoderError(
          `GitHub rejected ${this.#tokenName} while ${what} (401: ${detail}): it is wrong, expired or revoked; ` +
            `replace it with a valid token and restart the server`,
          502,
        );
      case 403:
        return new TeleCoderError(
          /rate limit/i.test(detail)
            ? `GitHub's rate limit stopped ${what} (403: ${detail}); wait for it to reset and try again`
            : `${this.#tokenName} lacks access for ${what} (403: ${detail}): it needs Contents and Pull requests ` +
                `read and write permission on the repository (a classic token: the repo scope)`,
          502,
        );
      case 422:
        return new TeleCoderError(`GitHub could not complete ${what} (422): ${detail}`, 422);
      default:
        return new TeleCoderError(`GitHub answered ${error.status} while ${what}: ${detail}`, 502);
    }
  }
}
