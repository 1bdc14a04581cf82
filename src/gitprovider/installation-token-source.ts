import { createAppAuth } from '@octokit/auth-app';
import { request as defaultRequest } from '@octokit/request';
import { TeleCoderError } from '../errors.js';
import type { TokenSource } from './provider.js';

export interface InstallationTokenSourceOptions {
  appId: string;
  privateKey: string;
  /** REST API base URL (GitHub Enterprise Server: https://HOST/api/v3). */
  apiUrl?: string;
  /** For tests and proxies; default @octokit/request. */
  request?: typeof defaultRequest;
}

/**
 * GitHub App installation tokens, one per repository's installation. @octokit/auth-app caches each
 * token and mints a new one shortly before it expires (they last an hour), so a session that
 * outlives its first token gets a fresh one at its next clone or push.
 */
export class InstallationTokenSource implements TokenSource {
  readonly #auth: ReturnType<typeof createAppAuth>;
  readonly #request: typeof defaultRequest;
  readonly #installations = new Map<string, number>();
  readonly label = "the TeleCoder GitHub App's installation token";

  constructor(options: InstallationTokenSourceOptions) {
    this.#request = (options.request ?? defaultRequest).defaults({
      baseUrl: options.apiUrl ?? 'https://api.github.com',
      headers: { 'user-agent': 'telecoder' },
    });
    this.#auth = createAppAuth({ appId: options.appId, privateKey: options.privateKey, request: this.#request });
  }

  /** The installation of the app on `owner/name`, looked up once with the app's own JWT. */
  async installationId(repo: string): Promise<number> {
    const known = this.#installations.get(repo.toLowerCase());
    if (known !== undefined) return known;
    const [owner, name] = repo.split('/');
    const { token } = await this.#auth({ type: 'app' });
    try {
      const { data } = await this.#request('GET /repos/{owner}/{repo}/installation', {
        owner: owner!,
        repo: name!,
        headers: { authorization: `bearer ${token}` },
      });
      this.#installations.set(repo.toLowerCase(), data.id);
      return data.id;
    } catch (error) {
      if ((error as { status?: number }).status === 404) {
        throw new TeleCoderError(
          `the TeleCoder GitHub App is not installed on ${repo}; install it on the repository (or set GITHUB_TOKEN)`,
          404,
        );
      }
      throw error;
    }
  }

  async getToken(repo: string): Promise<string> {
    const installationId = await this.installationId(repo);
    const { token } = await this.#auth({ type: 'installation', installationId });
    return token;
  }
}
