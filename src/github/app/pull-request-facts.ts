import { statusOf, type GitHubApi, type RepoCoordinates } from './github-api.js';

export interface PullRequestFacts {
  number: number;
  url: string;
  state: string;
  headRef: string;
  /** `owner/name` of the head repository; null when the fork was deleted. */
  headRepo: string | null;
  baseRepo: string;
  defaultBranch: string | undefined;
}

/** A request TeleCoder will not act on; `message` is shown to the person who asked. */
export class RefusedRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RefusedRequestError';
  }
}

export async function fetchPullRequest(github: GitHubApi, where: RepoCoordinates, number: number): Promise<PullRequestFacts> {
  try {
    const { data } = await github.request('GET /repos/{owner}/{repo}/pulls/{pull_number}', { ...where, pull_number: number });
    return {
      number: data.number,
      url: data.html_url,
      state: data.state,
      headRef: data.head.ref,
      headRepo: data.head.repo?.full_name ?? null,
      baseRepo: data.base.repo.full_name,
      defaultBranch: data.base.repo.default_branch,
    };
  } catch (error) {
    if (statusOf(error) === 404) throw new RefusedRequestError(`TeleCoder cannot find pull request #${number} in this repository.`);
    throw error;
  }
}

/**
 * Revision commits go only onto the head branch of an open pull request in this same repository,
 * and never onto the default branch: anything else is refused with the reason.
 */
export function checkRevisable(pr: PullRequestFacts, where: RepoCoordinates): void {
  const here = `${where.owner}/${where.repo}`.toLowerCase();
  if (pr.state !== 'open') throw new RefusedRequestError(`Pull request #${pr.number} is ${pr.state}, so TeleCoder will not push to it.`);
  if (pr.headRepo === null || pr.headRepo.toLowerCase() !== here) {
    throw new RefusedRequestError(
      `Pull request #${pr.number} comes from ${pr.headRepo ? `the fork ${pr.headRepo}` : 'a deleted fork'}, and TeleCoder can only push to branches of ${where.owner}/${where.repo}. ` +
        'Push the branch to this repository and open the pull request from there to have TeleCoder revise it.',
    );
  }
  if (pr.defaultBranch !== undefined && pr.headRef === pr.defaultBranch) {
    throw new RefusedRequestError(`Pull request #${pr.number} comes from the default branch \`${pr.headRef}\`, which TeleCoder never pushes to.`);
  }
}

export async function fetchPullRequestDiff(github: GitHubApi, where: RepoCoordinates, number: number): Promise<string> {
  const { data } = await github.request('GET /repos/{owner}/{repo}/pulls/{pull_number}', {
    ...where,
    pull_number: number,
    mediaType: { format: 'diff' },
  });
  return typeof data === 'string' ? data : String(data);
}
