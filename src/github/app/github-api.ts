import type { Probot } from 'probot';

/** The Octokit Probot hands to handlers and `app.auth()`; only `request` and `paginate` are used. */
export type GitHubApi = Pick<Awaited<ReturnType<Probot['auth']>>, 'request' | 'paginate'>;

/** Authenticates as one installation of the app (Probot's `app.auth(installationId)`). */
export type InstallationAuth = (installationId: number) => Promise<GitHubApi>;

export interface RepoCoordinates {
  owner: string;
  repo: string;
}

/** The HTTP status of an Octokit request error, if it is one. */
export function statusOf(error: unknown): number | undefined {
  const status = (error as { status?: unknown } | null)?.status;
  return typeof status === 'number' ? status : undefined;
}
