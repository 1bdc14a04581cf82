import type { Octokit } from '@octokit/core';
import Bottleneck from 'bottleneck';

/** The request methods GitHub counts as content-creating for its secondary rate limits. */
const WRITE_METHODS = new Set(['POST', 'PATCH', 'PUT', 'DELETE']);
/**
 * Minting an installation token is a POST, but it creates no content and must never wait behind
 * writes. Octokit's hooks see the route template (`{installation_id}`), the server the number.
 */
const NOT_CONTENT = /\/app\/installations\/(\d+|\{installation_id\})\/access_tokens$/;

export interface GitHubWriteLimiterOptions {
  /**
   * Least time between two writes, process-wide. GitHub asks for at least a second between
   * content-creating requests; its secondary limit is 80 a minute (500 an hour).
   */
  intervalMs: number;
  /** Writes in flight at once (GitHub allows 100 concurrent requests across REST and GraphQL). */
  maxConcurrent?: number;
}

/**
 * One queue for every content-creating request this process sends to GitHub, whichever client
 * sends it (the git provider's pull requests, the App's reactions, comments and edits): spaced
 * `intervalMs` apart, so 50 queued sessions never burst past GitHub's secondary limits. Octokit's
 * own throttling plugin spaces writes a second apart too, but per installation (Probot keys it by
 * installation id) and per client: sessions of several installations, and the provider's pull
 * requests beside the App's comments, would otherwise go out together.
 */
export class GitHubWriteLimiter {
  readonly #bottleneck: Bottleneck;
  /** Octokit's throttling groups, unspaced: its jobs only pass through (see octokitThrottle). */
  readonly #unspaced = new Bottleneck.Group();

  constructor(options: GitHubWriteLimiterOptions) {
    if (!Number.isFinite(options.intervalMs) || options.intervalMs < 0) {
      throw new Error(`GitHub write interval must be a number of milliseconds ≥ 0 (got ${options.intervalMs})`);
    }
    this.#bottleneck = new Bottleneck({ minTime: options.intervalMs, maxConcurrent: options.maxConcurrent ?? 10 });
  }

  /** Runs `send` now if it is a read, else when the queue lets it. */
  schedule<T>(request: { method: string; url: string }, send: () => Promise<T>): Promise<T> {
    if (!isContentCreating(request)) return send();
    return this.#bottleneck.schedule(send);
  }

  /**
   * Options for Octokit's throttling plugin on a client whose writes go through this queue. The
   * plugin's own write spacing (1 s per client id, 3 s for requests that notify) is keyed by the
   * client's id, and clients without one share the id "no-id" in one module-wide group: the
   * provider's pull requests and the App's reactions of every installation waited in one line, 3 s
   * apart, behind this queue's spacing. This queue does the spacing; the plugin keeps its
   * concurrency limit and its handling of rate-limit answers, which retry here (Probot's default
   * gives up on a secondary limit, and the trigger's reply would be lost).
   */
  octokitThrottle(): OctokitThrottleOptions {
    return {
      write: this.#unspaced,
      notifications: this.#unspaced,
      onRateLimit: (retryAfter, options, octokit, retryCount) => retryRateLimited('rate limit', retryAfter, options, octokit, retryCount),
      onSecondaryRateLimit: (retryAfter, options, octokit, retryCount) =>
        retryRateLimited('secondary rate limit', retryAfter, options, octokit, retryCount),
    };
  }

  /** An Octokit plugin sending the client's writes through this queue. */
  octokitPlugin(): (octokit: Octokit) => void {
    return (octokit) => {
      octokit.hook.wrap('request', (request, options) => this.schedule({ method: options.method, url: options.url }, async () => request(options)));
    };
  }
}

/** Attempts after the first for a request GitHub answered with a rate limit. */
const RATE_LIMIT_RETRIES = 3;

type RateLimitHandler = (
  retryAfter: number,
  options: { method: string; url: string },
  octokit: { log: { warn(message: string): void } },
  retryCount: number,
) => boolean;

export interface OctokitThrottleOptions {
  write: Bottleneck.Group;
  notifications: Bottleneck.Group;
  onRateLimit: RateLimitHandler;
  onSecondaryRateLimit: RateLimitHandler;
}

function retryRateLimited(
  what: string,
  retryAfter: number,
  options: { method: string; url: string },
  octokit: { log: { warn(message: string): void } },
  retryCount: number,
): boolean {
  const retry = retryCount < RATE_LIMIT_RETRIES;
  octokit.log.warn(`GitHub answered ${options.method} ${options.url} with a ${what}; ${retry ? `retrying in ${retryAfter} s` : 'giving up'}`);
  return retry;
}

export function isContentCreating(request: { method: string; url: string }): boolean {
  return WRITE_METHODS.has(request.method.toUpperCase()) && !NOT_CONTENT.test(request.url.split('?')[0]!);
}
