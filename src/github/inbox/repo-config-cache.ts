import type { Probot } from 'probot';
import type { Logger } from '../../logger.js';
import { REPO_CONFIG_PATH } from '../parse-repo-config.js';
import { statusOf } from '../app/github-api.js';

/** The Octokit `probot.auth(installationId)` gives: it has Probot's config plugin and request hooks. */
export type InstallationOctokit = Awaited<ReturnType<Probot['auth']>>;

/** A file as read last: its content by ETag, or that it does not exist (GitHub's 404 has no ETag). */
type CachedFile = { etag: string; response: unknown } | { missing: unknown; until: number };

/**
 * How long a missing file is believed missing without asking again. A push that adds it to the
 * default branch ends that at once; this bounds it where no push arrives (the owner's `.github`
 * repository where the App is not installed, an installation not subscribed to `push`).
 */
const DEFAULT_MISSING_FOR_MS = 60_000;

const CONTENTS_ROUTE = '/repos/{owner}/{repo}/contents/{path}';

/**
 * Probot's `context.config` (the repository's `.github/<file>`, else the owner's `.github`
 * repository's) with each file it reads cached by its ETag: a repeated read is a conditional
 * request, answered 304 while the file is unchanged, which GitHub does not count against the
 * rate limit. A missing file (a 404, which has no ETag to revalidate) is remembered for a minute.
 * A push to a default branch that touches the file drops the repository's entries, so the next
 * read is a full one.
 */
export class RepoConfigCache {
  readonly #files = new Map<string, CachedFile>();
  readonly #hooked = new WeakSet<object>();
  readonly #logger: Logger;
  readonly #missingForMs: number;

  constructor(options: { logger: Logger; /** Default 60 s; 0 asks every time. */ missingForMs?: number | undefined }) {
    this.#logger = options.logger;
    this.#missingForMs = options.missingForMs ?? DEFAULT_MISSING_FOR_MS;
  }

  /** `context.config(fileName)` for `owner/repo`: the parsed file, or null when neither repository has one. */
  async read(octokit: InstallationOctokit, where: { owner: string; repo: string }, fileName: string): Promise<unknown> {
    this.#hook(octokit);
    const { config, files } = await octokit.config.get({
      owner: where.owner,
      repo: where.repo,
      path: `.github/${fileName}`,
      defaults: (configs: object[]) => Object.assign({}, ...configs),
    });
    return files.some((file) => file.config !== null) ? config : null;
  }

  /** Forgets what is cached for one repository (its own file and, for `.github`, the owner's fallback). */
  invalidate(fullName: string): void {
    const prefix = `${fullName.toLowerCase()}:`;
    for (const key of this.#files.keys()) if (key.startsWith(prefix)) this.#files.delete(key);
  }

  /** A `push` delivery: invalidates the repository when it changed `.github/telecoder.yml` on its default branch. */
  onPush(payload: unknown): void {
    const push = (payload ?? {}) as PushPayload;
    const fullName = push.repository?.full_name;
    const defaultBranch = push.repository?.default_branch;
    if (typeof fullName !== 'string' || typeof defaultBranch !== 'string' || push.ref !== `refs/heads/${defaultBranch}`) return;
    if (!pushTouches(push, REPO_CONFIG_PATH)) return;
    this.invalidate(fullName);
    this.#logger.debug({ repository: fullName }, `${REPO_CONFIG_PATH} changed; its cached copy is dropped`);
  }

  /** Adds If-None-Match to this client's reads of `.github/` files and answers a 304 from the cache. */
  #hook(octokit: InstallationOctokit): void {
    if (this.#hooked.has(octokit)) return;
    this.#hooked.add(octokit);
    octokit.hook.wrap('request', async (request, options) => {
      const params = options as typeof options & { owner?: unknown; repo?: unknown; path?: unknown; ref?: unknown };
      if (options.method !== 'GET' || options.url !== CONTENTS_ROUTE || params.ref !== undefined || !String(params.path).startsWith('.github/')) {
        return request(options);
      }
      const key = `${String(params.owner).toLowerCase()}/${String(params.repo).toLowerCase()}:${String(params.path)}`;
      const cached = this.#files.get(key);
      // The same 404 again, which Probot reads as "no such file", without asking GitHub.
      if (cached && 'missing' in cached && Date.now() < cached.until) throw cached.missing;
      const known = cached && 'etag' in cached ? cached : undefined;
      // In place: before-after-hook hands the inner hooks the options object it was called with,
      // whatever this wrapper passes on.
      if (known) options.headers['if-none-match'] = known.etag;
      try {
        const response = await request(options);
        const etag = response.headers.etag;
        if (typeof etag === 'string' && etag) this.#files.set(key, { etag, response });
        else this.#files.delete(key);
        return response;
      } catch (error) {
        if (known && statusOf(error) === 304) return known.response as Awaited<ReturnType<typeof request>>;
        if (statusOf(error) === 404 && this.#missingForMs > 0) this.#files.set(key, { missing: error, until: Date.now() + this.#missingForMs });
        else this.#files.delete(key);
        throw error;
      }
    });
  }
}

interface PushPayload {
  ref?: unknown;
  forced?: unknown;
  repository?: { full_name?: unknown; default_branch?: unknown };
  commits?: Array<{ added?: unknown; modified?: unknown; removed?: unknown }>;
}

/**
 * Whether the push changed `path`. GitHub lists at most 20 commits in a push event, and a forced
 * push may replace history the list does not show: both count as touching it.
 */
function pushTouches(push: PushPayload, path: string): boolean {
  const commits = Array.isArray(push.commits) ? push.commits : [];
  if (push.forced === true || commits.length >= 20) return true;
  return commits.some((commit) =>
    [commit.added, commit.modified, commit.removed].some((files) => Array.isArray(files) && files.includes(path)),
  );
}
