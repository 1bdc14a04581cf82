import type { TaskOrigin } from '../../model/session.js';

/** Where a session that came from GitHub answers: the tracking comment, and maybe a review thread. */
export interface GitHubOrigin extends TaskOrigin {
  kind: 'github';
  /** The GitHub login that asked. */
  requestedBy: string;
  installationId: number;
  owner: string;
  repo: string;
  /** The issue or pull request the tracking comment is on. */
  number: number;
  /** Set by the tracking-comment reporter once it has created the comment. */
  trackingCommentId?: number;
  /** The line review comment the request was left as: the result is also replied in its thread. */
  reviewCommentId?: number;
}

export function isGitHubOrigin(origin: TaskOrigin | undefined): origin is GitHubOrigin {
  if (!origin || origin.kind !== 'github') return false;
  const { installationId, owner, repo, number, trackingCommentId } = origin as Partial<GitHubOrigin>;
  return (
    typeof installationId === 'number' &&
    typeof owner === 'string' &&
    typeof repo === 'string' &&
    typeof number === 'number' &&
    (trackingCommentId === undefined || typeof trackingCommentId === 'number')
  );
}
