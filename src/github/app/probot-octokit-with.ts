import { ProbotOctokit } from 'probot';
import type { GitHubWriteLimiter } from '../github-write-limiter.js';

/**
 * Probot's Octokit with its writes in the process-wide queue, and the queue's throttle options in
 * place of the plugin's own spacing and of Probot's secondary-limit handler (which never retries).
 */
export function probotOctokitWith(limiter: GitHubWriteLimiter): typeof ProbotOctokit {
  const throttle = limiter.octokitThrottle();
  return ProbotOctokit.plugin(limiter.octokitPlugin()).defaults((instanceOptions: { throttle?: object } | undefined) => ({
    ...instanceOptions,
    // Keeps what Probot set (whether throttling is on, the installation's id), replaces the rest.
    throttle: { ...instanceOptions?.throttle, ...throttle },
  }));
}
