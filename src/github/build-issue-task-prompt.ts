import { fenceUntrusted, neutraliseFenceTags, UNTRUSTED_DATA_NOTICE } from './fence-untrusted.js';
import { sanitizeUntrustedText } from './sanitize-untrusted-text.js';
import type { RepoRef } from './trigger.js';

export interface ThreadComment {
  author: string;
  /** Whether the author has write access; other people's comments never reach the prompt. */
  authorCanWrite: boolean;
  body: string;
  createdAt: string;
}

export interface IssueTaskPromptInput {
  repo: RepoRef | string;
  /** The issue as the webhook payload carried it: the version at trigger time. */
  issue: { number: number; title: string; body: string | null };
  /** What the person asked for; without it, resolving the issue is the task. */
  instruction?: string;
  comments: ThreadComment[];
  /** Comments created after this moment are left out (an edit race cannot add to the request). */
  triggerAt: string;
}

export const PROMPT_LIMITS = {
  title: 300,
  issueBody: 20_000,
  instruction: 10_000,
  comment: 8_000,
  /** All comments together; the newest are kept. */
  comments: 30_000,
} as const;

export function repoName(repo: RepoRef | string): string {
  return typeof repo === 'string' ? repo : `${repo.owner}/${repo.name}`;
}

/** The instruction comes from someone with write access: it is the task, but still cleaned. */
export function cleanInstruction(instruction: string | undefined): string {
  return neutraliseFenceTags(sanitizeUntrustedText(instruction ?? '', { maxLength: PROMPT_LIMITS.instruction }));
}

/**
 * Comments that may be shown: by writers, created at or before `triggerAt`, oldest first, the
 * newest kept within the budget. Returns how many otherwise eligible ones the budget dropped.
 */
export function eligibleComments<T extends { authorCanWrite: boolean; body: string; createdAt?: string }>(
  comments: T[],
  triggerAt: string | undefined,
  budget: number,
): { kept: (T & { text: string })[]; dropped: number } {
  const limit = triggerAt === undefined ? Number.POSITIVE_INFINITY : Date.parse(triggerAt);
  const eligible = comments
    .filter((comment) => comment.authorCanWrite === true)
    .filter((comment) => {
      if (triggerAt === undefined && comment.createdAt === undefined) return true;
      const created = Date.parse(comment.createdAt ?? '');
      // An unreadable time cannot be shown to be before the trigger.
      return !Number.isNaN(created) && !Number.isNaN(limit) && created <= limit;
    })
    .map((comment) => ({ ...comment, text: sanitizeUntrustedText(comment.body, { maxLength: PROMPT_LIMITS.comment }) }))
    .filter((comment) => comment.text !== '')
    .sort((a, b) => (Date.parse(a.createdAt ?? '') || 0) - (Date.parse(b.createdAt ?? '') || 0));
  const kept: (T & { text: string })[] = [];
  let used = 0;
  for (const comment of [...eligible].reverse()) {
    if (used + comment.text.length > budget) break;
    used += comment.text.length;
    kept.unshift(comment);
  }
  return { kept, dropped: eligible.length - kept.length };
}

/** The prompt for a task that came from an issue: the issue and its thread as data, then the task. */
export function buildIssueTaskPrompt(input: IssueTaskPromptInput): string {
  const { issue } = input;
  const title = sanitizeUntrustedText(issue.title, { maxLength: PROMPT_LIMITS.title });
  const body = sanitizeUntrustedText(issue.body ?? '', { maxLength: PROMPT_LIMITS.issueBody });
  const parts = [
    `You are working in the GitHub repository ${repoName(input.repo)} on issue #${issue.number}.`,
    UNTRUSTED_DATA_NOTICE,
    fenceUntrusted('issue_text', `Title: ${title}\n\n${body || '(no description)'}`, { number: issue.number }),
  ];

  const { kept, dropped } = eligibleComments(input.comments, input.triggerAt, PROMPT_LIMITS.comments);
  if (kept.length > 0) {
    parts.push('Comments on the issue by people with write access, up to the moment TeleCoder was asked, oldest first:');
    for (const comment of kept) {
      parts.push(fenceUntrusted('comment', comment.text, { author: comment.author, created_at: comment.createdAt }));
    }
  }
  if (dropped > 0) parts.push(`(${dropped} earlier comment${dropped === 1 ? ' was' : 's were'} left out to keep this prompt short.)`);

  const instruction = cleanInstruction(input.instruction);
  parts.push(instruction ? `Task: ${instruction}` : `Task: Resolve issue #${issue.number} as described above.`);
  return parts.join('\n\n');
}
