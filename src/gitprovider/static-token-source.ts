import { NotConfiguredError } from '../errors.js';
import type { TokenSource } from './provider.js';

/**
 * One token (GITHUB_TOKEN, a personal access token) for every repository. A missing token fails
 * only when a GitHub repository is used, so a server working on local repositories needs none.
 */
export class StaticTokenSource implements TokenSource {
  readonly #token: string | undefined;

  constructor(token: string | undefined) {
    const trimmed = token?.trim();
    this.#token = trimmed ? trimmed : undefined;
  }

  readonly label = 'GITHUB_TOKEN';

  check(repo: string): void {
    if (!this.#token) {
      // The server's setting is missing, not the request's fault: 503, and how to set it.
      throw new NotConfiguredError(
        `this server has no GitHub token to reach ${repo}: set GITHUB_TOKEN to a token with contents and pull_requests ` +
          'write access to it (or configure the GitHub App), then restart the server',
      );
    }
  }

  async getToken(repo: string): Promise<string> {
    this.check(repo);
    return this.#token!;
  }
}
