import { cleanInstruction, eligibleComments, repoName } from './build-issue-task-prompt.js';
import { fenceUntrusted, UNTRUSTED_DATA_NOTICE } from './fence-untrusted.js';
import { sanitizeUntrustedText } from './sanitize-untrusted-text.js';
import { revealInvisibleCharacters } from './strip-invisible-characters.js';
import type { RepoRef } from './trigger.js';

export interface RevisionReviewComment {
  author: string;
  authorCanWrite: boolean;
  path?: string;
  line?: number | null;
  body: string;
  createdAt?: string;
}

export interface RevisionPromptInput {
  repo?: RepoRef | string;
  prNumber: number;
  title: string;
  /** What to change; empty means "address the review feedback". */
  instruction: string;
  /** The review comment the request was left as, when it was one. */
  reviewComment?: { path: string; line: number | null; diffHunk: string; body: string };
  /** The rest of the review thread; only writers' comments (before `triggerAt`) are shown. */
  otherReviewComments?: RevisionReviewComment[];
  /** The pull request's diff against its base; cut to `maxDiffLength`. */
  diff: string;
  triggerAt?: string;
  /** Default 60,000 characters. */
  maxDiffLength?: number;
}

export const DEFAULT_MAX_DIFF_LENGTH = 60_000;
const MAX_HUNK_LENGTH = 6_000;
const REVIEW_COMMENTS_BUDGET = 20_000;

/**
 * Code is shown as it is — no markup is removed from it — but cut to size, with invisible
 * characters made visible rather than deleted, so what the agent is told matches the files.
 */
function codeExcerpt(text: string, maxLength: number): string {
  const revealed = revealInvisibleCharacters(text.replace(/\r\n?/g, '\n'));
  if (revealed.length <= maxLength) return revealed;
  const omitted = revealed.length - maxLength;
  return `${revealed.slice(0, maxLength)}\n[TeleCoder cut the rest: ${omitted.toLocaleString('en-US')} more characters; read the files for the full change.]`;
}

/** The prompt for a revision of a pull request: the change and the feedback as data, then the task. */
export function buildRevisionPrompt(input: RevisionPromptInput): string {
  const where = input.repo === undefined ? '' : ` in ${repoName(input.repo)}`;
  const title = sanitizeUntrustedText(input.title, { maxLength: 300 });
  const parts = [
    `You are revising pull request #${input.prNumber}${where}. Its head branch is checked out; your work is added to it as new commits.`,
    UNTRUSTED_DATA_NOTICE,
    fenceUntrusted('pull_request_title', title || '(no title)'),
    'The change so far (its diff against the base branch):',
    fenceUntrusted('diff', codeExcerpt(input.diff, input.maxDiffLength ?? DEFAULT_MAX_DIFF_LENGTH) || '(empty diff)'),
  ];

  const instruction = cleanInstruction(input.instruction);
  const { reviewComment } = input;
  if (reviewComment) {
    const line = reviewComment.line === null ? '' : ` line ${reviewComment.line}`;
    parts.push(`The request was left as a review comment on ${reviewComment.path.replace(/[\r\n]/g, ' ')}${line}, on this part of the diff:`);
    parts.push(
      fenceUntrusted('diff_hunk', codeExcerpt(reviewComment.diffHunk, MAX_HUNK_LENGTH), {
        path: reviewComment.path,
        line: reviewComment.line ?? undefined,
      }),
    );
    const body = sanitizeUntrustedText(reviewComment.body, { maxLength: 8_000 });
    if (body && (instruction === '' || !body.includes(instruction))) parts.push(fenceUntrusted('review_comment', body, { path: reviewComment.path }));
  }

  const { kept, dropped } = eligibleComments(input.otherReviewComments ?? [], input.triggerAt, REVIEW_COMMENTS_BUDGET);
  if (kept.length > 0) {
    parts.push('Other review comments on this pull request by people with write access, oldest first:');
    for (const comment of kept) {
      parts.push(
        fenceUntrusted('review_comment', comment.text, {
          author: comment.author,
          path: comment.path,
          line: comment.line ?? undefined,
          created_at: comment.createdAt,
        }),
      );
    }
  }
  if (dropped > 0) parts.push(`(${dropped} earlier review comment${dropped === 1 ? ' was' : 's were'} left out to keep this prompt short.)`);

  parts.push(
    instruction
      ? `Task: ${instruction}`
      : `Task: Address the review feedback above on pull request #${input.prNumber}.`,
  );
  return parts.join('\n\n');
}
