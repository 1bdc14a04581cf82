/**
 * Where repositories live and how the server authenticates to them. The engine asks a provider
 * for access right before each clone and each push, so short-lived credentials (GitHub App
 * installation tokens, which last an hour) are minted fresh for every operation.
 */

export interface RepoAccess {
  /** The repository as the user named it, normalized (owner/name, or an absolute local path). */
  repo: string;
  /** URL git clones and pushes; never contains a credential. */
  cloneUrl: string;
  /**
   * Environment for the git process that carries the credential (GIT_CONFIG_COUNT/KEY/VALUE with
   * an http.extraHeader), so it lives only in that process's memory: never in argv, never in a
   * file of the workspace.
   */
  gitEnv: Record<string, string>;
  /** The branch pull requests target; undefined means "whatever the clone's HEAD is". */
  defaultBranch?: string;
  /** A browsable URL, for messages. */
  webUrl?: string;
}

export interface PullRequestInput {
  repo: string;
  head: string;
  base: string;
  title: string;
  body: string;
  draft?: boolean;
}

export interface PullRequestRef {
  url: string;
  number: number;
}

export interface GitProvider {
  readonly name: string;
  /** True when this provider serves the repository string (owner/name vs a local path). */
  handles(repo: string): boolean;
  access(repo: string, signal?: AbortSignal): Promise<RepoAccess>;
  /**
   * Refuses, before a session is stored, a repository this provider could not serve: a
   * TeleCoderError with 400 (the request names something unusable) or 503 (the server lacks a
   * setting, e.g. a token), saying how to fix it. Cheap checks only: it runs on every request.
   */
  check?(repo: string, signal?: AbortSignal): Promise<void>;
  /** Opens a pull request; resolves null when the provider has none (a local repository). */
  openPullRequest(input: PullRequestInput, signal?: AbortSignal): Promise<PullRequestRef | null>;
}

/** Supplies a token per repository: a personal access token today, installation tokens later. */
export interface TokenSource {
  getToken(repo: string): Promise<string>;
  /** Throws (NotConfiguredError) when no token could be had at all, without asking GitHub. */
  check?(repo: string): void;
  /** What the token is, for messages: "GITHUB_TOKEN", "the GitHub App's installation token". */
  readonly label?: string;
}
