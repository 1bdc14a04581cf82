import { MAX_PROMPT_LENGTH } from '../../engine/validate-task-request.js';
import { buildIssueTaskPrompt, type ThreadComment } from '../build-issue-task-prompt.js';
import { buildRevisionPrompt, type RevisionReviewComment } from '../build-revision-prompt.js';
import type { CommentTaskTrigger, IssueTaskTrigger, PrRevisionTrigger } from '../trigger.js';
import type { GitHubApi, RepoCoordinates } from './github-api.js';
import type { PermissionChecker } from './permission-checker.js';

interface ApiComment {
  id: number;
  body?: string | null;
  created_at: string;
  user: { login: string; type?: string } | null;
}

/** Review line comments as GitHub lists them. */
export interface ApiReviewComment extends ApiComment {
  path: string;
  line?: number | null;
  original_line?: number | null;
}

const MARGIN = 200;

/**
 * The prompt for an issue or a `/telecoder` comment on an issue: the issue as the payload carried
 * it (trigger time), and the thread's comments by people with write access, made no later than
 * the trigger. Cut to what the engine accepts: older comments go first, then the body's tail.
 */
export async function issueTaskPrompt(input: {
  github: GitHubApi;
  where: RepoCoordinates;
  trigger: IssueTaskTrigger | CommentTaskTrigger;
  canWrite: PermissionChecker;
}): Promise<string> {
  const { github, where, trigger } = input;
  const all = (await github.paginate('GET /repos/{owner}/{repo}/issues/{issue_number}/comments', {
    ...where,
    issue_number: trigger.issueNumber,
    per_page: 100,
  })) as ApiComment[];
  const triggerAt = Date.parse(trigger.triggerAt);
  const ownCommentId = trigger.kind === 'comment-task' ? trigger.commentId : undefined;
  const comments: ThreadComment[] = [];
  for (const comment of all) {
    const created = Date.parse(comment.created_at);
    // Later comments are not part of the request; bots never speak for a writer.
    if (comment.id === ownCommentId || !comment.user || Number.isNaN(created) || created > triggerAt) continue;
    if (comment.user.type === 'Bot' || comment.user.login.toLowerCase().endsWith('[bot]')) continue;
    const decision = await input.canWrite(comment.user.login).catch(() => ({ allowed: false }));
    comments.push({ author: comment.user.login, authorCanWrite: decision.allowed, body: comment.body ?? '', createdAt: comment.created_at });
  }
  const build = (body: string, kept: ThreadComment[]) =>
    buildIssueTaskPrompt({
      repo: { owner: where.owner, name: where.repo },
      issue: { number: trigger.issueNumber, title: trigger.title, body },
      ...(trigger.kind === 'comment-task' && trigger.instruction ? { instruction: trigger.instruction } : {}),
      comments: kept,
      triggerAt: trigger.triggerAt,
    });
  let kept = comments.filter((comment) => comment.authorCanWrite);
  let prompt = build(trigger.body, kept);
  while (prompt.length > MAX_PROMPT_LENGTH && kept.length > 0) {
    kept = kept.slice(1);
    prompt = build(trigger.body, kept);
  }
  if (prompt.length > MAX_PROMPT_LENGTH) {
    const room = Math.max(0, trigger.body.length - (prompt.length - MAX_PROMPT_LENGTH) - MARGIN);
    prompt = build(`${trigger.body.slice(0, room)}\n[TeleCoder cut the rest of the issue to fit its prompt limit.]`, []);
  }
  return prompt;
}

export async function listReviewComments(
  github: GitHubApi,
  where: RepoCoordinates,
  prNumber: number,
  reviewId: number,
): Promise<ApiReviewComment[]> {
  return (await github.paginate('GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}/comments', {
    ...where,
    pull_number: prNumber,
    review_id: reviewId,
    per_page: 100,
  })) as ApiReviewComment[];
}

/**
 * The prompt for a revision: the pull request's diff, the request (a comment, a line comment with
 * its hunk, or a review with its line comments), cut to what the engine accepts by shortening the
 * diff first.
 */
export function revisionPrompt(input: {
  where: RepoCoordinates;
  trigger: PrRevisionTrigger;
  diff: string;
  /** The line comments of the review that triggered, when the source is a review. */
  reviewComments?: ApiReviewComment[];
}): string {
  const { trigger } = input;
  const others: RevisionReviewComment[] = (input.reviewComments ?? []).map((comment) => ({
    author: comment.user?.login ?? 'unknown',
    // Every line comment of a review is by its author, who just passed the permission check.
    authorCanWrite: comment.user?.login.toLowerCase() === trigger.actor.login.toLowerCase(),
    path: comment.path,
    line: comment.line ?? comment.original_line ?? null,
    body: comment.body ?? '',
    createdAt: comment.created_at,
  }));
  const build = (maxDiffLength: number) =>
    buildRevisionPrompt({
      repo: { owner: input.where.owner, name: input.where.repo },
      prNumber: trigger.prNumber,
      title: trigger.title,
      instruction: trigger.instruction,
      ...(trigger.reviewComment ? { reviewComment: trigger.reviewComment } : {}),
      otherReviewComments: others,
      diff: input.diff,
      triggerAt: trigger.triggerAt,
      maxDiffLength,
    });
  let maxDiff = Math.min(input.diff.length, MAX_PROMPT_LENGTH);
  let prompt = build(maxDiff);
  while (prompt.length > MAX_PROMPT_LENGTH && maxDiff > 0) {
    maxDiff = Math.max(0, maxDiff - (prompt.length - MAX_PROMPT_LENGTH) - MARGIN);
    prompt = build(maxDiff);
  }
  return prompt;
}
