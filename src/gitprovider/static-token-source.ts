import { TeleCoderError } from '../errors.js';
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

  async getToken(repo: string): Promise<string> {
    if (!this.#token) {
      throw new TeleCoderError(
        `no GitHub token to reach ${repo}: set GITHUB_TOKEN to a token with contents and pull_requests write access`,
        500,
      );
    }
    return this.#token;
  }
}
