import { parseTrigger, type ParseTriggerOptions } from '../parse-trigger.js';
import type { PrRevisionTrigger, Trigger } from '../trigger.js';
import type { GitHubApi, RepoCoordinates } from './github-api.js';
import { listReviewComments } from './build-github-prompt.js';

/**
 * One review starts one revision. GitHub sends a `pull_request_review_comment` event for every
 * line comment of a review and a `pull_request_review` event for the review itself, so:
 *
 * - a review that asks for changes (changes requested, or commented with a body) is handled by
 *   its review event, with all its line comments in the prompt;
 * - a commented review without a body but with several line comments is handled by its review
 *   event too (as "address these comments");
 * - a line comment is handled on its own only when its review is a bare comment with no other
 *   line comment — GitHub's "Add single comment" and replies in a thread — and then its result is
 *   also replied in that thread.
 *
 * Both events ask GitHub the same question (the review's state, body and comments), so they agree
 * on which one of them acts whatever order they arrive in.
 */
export async function reviewCommentStandsAlone(github: GitHubApi, where: RepoCoordinates, trigger: PrRevisionTrigger): Promise<boolean> {
  const reviewId = trigger.source.reviewId;
  if (trigger.source.type !== 'review-comment' || reviewId === undefined) return true;
  const { data: review } = await github.request('GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}', {
    ...where,
    pull_number: trigger.prNumber,
    review_id: reviewId,
  });
  if (review.state.toLowerCase() !== 'commented' || (review.body ?? '').trim() !== '') return false;
  const comments = await listReviewComments(github, where, trigger.prNumber, reviewId);
  return comments.length <= 1;
}

/**
 * The trigger of a commented review without a body, which `parseTrigger` leaves to its line
 * comments: parsed as if it requested changes (so every check of the pull request still applies),
 * it becomes "address the review feedback". Undefined when the event is not such a review.
 */
export function bodylessReviewTrigger(name: string, payload: unknown, options: ParseTriggerOptions): PrRevisionTrigger | undefined {
  const review = (payload as { review?: { state?: unknown; body?: unknown } } | null)?.review;
  if (!name.startsWith('pull_request_review') || name.startsWith('pull_request_review_comment') || !review) return undefined;
  if (typeof review.state !== 'string' || review.state.toLowerCase() !== 'commented') return undefined;
  if (typeof review.body === 'string' && review.body.trim() !== '') return undefined;
  const asChangesRequested = { ...(payload as object), review: { ...review, state: 'changes_requested', body: '' } };
  const trigger: Trigger = parseTrigger({ name, payload: asChangesRequested }, options);
  return trigger.kind === 'pr-revision' ? trigger : undefined;
}

/** Whether a bodyless commented review has enough line comments to be handled as a whole. */
export async function reviewHasSeveralComments(github: GitHubApi, where: RepoCoordinates, trigger: PrRevisionTrigger): Promise<boolean> {
  const comments = await listReviewComments(github, where, trigger.prNumber, trigger.source.id);
  return comments.length > 1;
}
