import type { z } from 'zod';
import { parseCommand } from './parse-command.js';
import {
  issueCommentEventSchema,
  issuesEventSchema,
  reviewCommentEventSchema,
  reviewEventSchema,
  type IssueCommentEventFields,
  type IssuesEventFields,
  type ReviewCommentEventFields,
  type ReviewEventFields,
} from './payload-schemas.js';
import {
  DEFAULT_COMMAND_PREFIX,
  TELECODER_BRANCH_PREFIX,
  type IgnoredTrigger,
  type PrRevisionTrigger,
  type Trigger,
} from './trigger.js';

export interface ParseTriggerOptions {
  /** The label that asks TeleCoder to work on an issue (compared case-insensitively). */
  triggerLabel: string;
  /** Defaults to `/telecoder`. */
  commandPrefix?: string;
  /** The GitHub App's slug: events the app itself caused (`<slug>[bot]`) are ignored at once. */
  appSlug?: string;
}

export interface WebhookEvent {
  /** `issues`, `issue_comment`, … as in the `X-GitHub-Event` header; `issues.labeled` also works. */
  name: string;
  payload: unknown;
}

const ignored = (reason: string): IgnoredTrigger => ({ kind: 'ignored', reason });

/**
 * Decides whether a webhook event asks TeleCoder to work, and on what. Pure: no network, and
 * never throws — a payload without the fields it needs is ignored with a reason.
 *
 * Who asked is not judged here beyond the app's own events: run `checkActor` and the permission
 * check on `actor` before starting anything.
 */
export function parseTrigger(event: WebhookEvent, options: ParseTriggerOptions): Trigger {
  try {
    return parse(event, options);
  } catch (error) {
    // A bug here must cost one ignored event, not the webhook handler.
    return ignored(`${String(event?.name)}: the payload could not be read (${error instanceof Error ? error.message : String(error)})`);
  }
}

function parse(event: WebhookEvent, options: ParseTriggerOptions): Trigger {
  const [eventName = '', namedAction] = String(event.name).split('.', 2);
  const payload = event.payload;
  if (typeof payload !== 'object' || payload === null) return ignored(`${event.name}: the payload is not an object`);
  const action = (payload as { action?: unknown }).action;
  if (typeof action !== 'string') return ignored(`${event.name}: the payload has no action`);
  if (namedAction !== undefined && namedAction !== action) {
    return ignored(`${event.name}: the payload's action is "${action}"`);
  }
  const fullName = `${eventName}.${action}`;

  const sender = (payload as { sender?: { login?: unknown } }).sender?.login;
  const slug = options.appSlug?.trim().toLowerCase();
  if (slug && typeof sender === 'string' && sender.toLowerCase() === `${slug}[bot]`) {
    return ignored(`${fullName}: sent by the app itself (${sender})`);
  }

  const commandPrefix = options.commandPrefix?.trim() || DEFAULT_COMMAND_PREFIX;
  switch (fullName) {
    case 'issues.labeled':
    case 'issues.opened':
      return withPayload(fullName, issuesEventSchema, payload, (fields) => fromIssueEvent(fullName, fields, options.triggerLabel));
    case 'issue_comment.created':
      return withPayload(fullName, issueCommentEventSchema, payload, (fields) => fromIssueComment(fullName, fields, commandPrefix));
    case 'pull_request_review_comment.created':
      return withPayload(fullName, reviewCommentEventSchema, payload, (fields) => fromReviewComment(fullName, fields, commandPrefix));
    case 'pull_request_review.submitted':
      return withPayload(fullName, reviewEventSchema, payload, (fields) => fromReview(fullName, fields, commandPrefix));
    default:
      return ignored(`${fullName}: not an event TeleCoder acts on`);
  }
}

function withPayload<S extends z.ZodType>(
  fullName: string,
  schema: S,
  payload: unknown,
  then: (fields: z.output<S>) => Trigger,
): Trigger {
  const parsed = schema.safeParse(payload);
  if (parsed.success) return then(parsed.data);
  const issue = parsed.error.issues[0];
  const field = issue?.path.join('.') || 'payload';
  return ignored(`${fullName}: the payload's ${field} is missing or invalid (${issue?.message ?? 'unknown problem'})`);
}

type BaseFields = Pick<IssuesEventFields, 'repository' | 'sender' | 'installation'>;

function base(fields: BaseFields, triggerAt: string) {
  return {
    repo: { owner: fields.repository.owner.login, name: fields.repository.name },
    actor: { login: fields.sender.login, type: fields.sender.type },
    triggerAt,
    ...(fields.installation ? { installationId: fields.installation.id } : {}),
  };
}

const sameLabel = (a: string, b: string) => a.trim().toLowerCase() === b.trim().toLowerCase();
const isPullRequest = (issue: { pull_request?: unknown }) => issue.pull_request !== undefined && issue.pull_request !== null;

function fromIssueEvent(fullName: string, fields: IssuesEventFields, triggerLabel: string): Trigger {
  const { issue } = fields;
  if (isPullRequest(issue)) return ignored(`${fullName}: #${issue.number} is a pull request`);
  if (fullName === 'issues.labeled') {
    const added = fields.label?.name;
    if (added === undefined) return ignored(`${fullName}: the payload names no label`);
    if (!sameLabel(added, triggerLabel)) return ignored(`${fullName}: label "${added}" is not the trigger label "${triggerLabel}"`);
    return {
      kind: 'issue-task',
      cause: 'labeled',
      ...base(fields, issue.updated_at ?? issue.created_at),
      issueNumber: issue.number,
      title: issue.title,
      body: issue.body ?? '',
    };
  }
  if (!(issue.labels ?? []).some((label) => sameLabel(label.name, triggerLabel))) {
    return ignored(`${fullName}: the issue does not carry the trigger label "${triggerLabel}"`);
  }
  return {
    kind: 'issue-task',
    cause: 'opened',
    ...base(fields, issue.created_at),
    issueNumber: issue.number,
    title: issue.title,
    body: issue.body ?? '',
  };
}

function fromIssueComment(fullName: string, fields: IssueCommentEventFields, commandPrefix: string): Trigger {
  const { issue, comment } = fields;
  const command = parseCommand(comment.body ?? '', commandPrefix);
  if (!command) return ignored(`${fullName}: the comment does not start with ${commandPrefix}`);
  if (isPullRequest(issue)) {
    if (issue.state === 'closed') return ignored(`${fullName}: pull request #${issue.number} is closed`);
    return {
      kind: 'pr-revision',
      ...base(fields, comment.created_at),
      prNumber: issue.number,
      title: issue.title,
      instruction: command.instruction,
      source: { type: 'issue-comment', id: comment.id },
    };
  }
  return {
    kind: 'comment-task',
    ...base(fields, comment.created_at),
    issueNumber: issue.number,
    title: issue.title,
    body: issue.body ?? '',
    ...(command.instruction ? { instruction: command.instruction } : {}),
    commentId: comment.id,
  };
}

/** Why a pull request is not one TeleCoder revises from review events, or undefined if it is. */
function notTeleCoderPullRequest(pr: ReviewEventFields['pull_request']): string | undefined {
  if (!pr.head.ref.startsWith(TELECODER_BRANCH_PREFIX)) {
    return `pull request #${pr.number} is not TeleCoder's (head branch "${pr.head.ref}")`;
  }
  // A fork can name its branch telecoder/… too; only branches in the repository itself count.
  if (pr.head.repo?.id !== pr.base.repo.id) return `pull request #${pr.number} comes from another repository`;
  if (pr.state === 'closed') return `pull request #${pr.number} is closed`;
  return undefined;
}

/** A review or review comment body is the instruction as it stands; a leading command is allowed. */
function instructionFrom(body: string, commandPrefix: string): string {
  return parseCommand(body, commandPrefix)?.instruction ?? body.trim();
}

function fromReviewComment(fullName: string, fields: ReviewCommentEventFields, commandPrefix: string): Trigger {
  const { pull_request: pr, comment } = fields;
  const notOurs = notTeleCoderPullRequest(pr);
  if (notOurs) return ignored(`${fullName}: ${notOurs}`);
  const instruction = instructionFrom(comment.body ?? '', commandPrefix);
  if (!instruction) return ignored(`${fullName}: the review comment is empty`);
  const trigger: PrRevisionTrigger = {
    kind: 'pr-revision',
    ...base(fields, comment.created_at),
    prNumber: pr.number,
    title: pr.title,
    instruction,
    headRef: pr.head.ref,
    source: {
      type: 'review-comment',
      id: comment.id,
      ...(comment.pull_request_review_id ? { reviewId: comment.pull_request_review_id } : {}),
    },
    reviewComment: {
      path: comment.path,
      line: comment.line ?? comment.original_line ?? null,
      diffHunk: comment.diff_hunk ?? '',
      body: comment.body ?? '',
      ...(comment.in_reply_to_id ? { inReplyToId: comment.in_reply_to_id } : {}),
    },
  };
  return trigger;
}

function fromReview(fullName: string, fields: ReviewEventFields, commandPrefix: string): Trigger {
  const { pull_request: pr, review } = fields;
  const state = review.state.toLowerCase();
  const body = review.body ?? '';
  if (state !== 'changes_requested' && state !== 'commented') {
    return ignored(`${fullName}: a review with state "${review.state}" asks for no change`);
  }
  if (state === 'commented' && body.trim() === '') {
    // Its line comments arrive as pull_request_review_comment events of their own.
    return ignored(`${fullName}: a commented review without a body`);
  }
  const notOurs = notTeleCoderPullRequest(pr);
  if (notOurs) return ignored(`${fullName}: ${notOurs}`);
  return {
    kind: 'pr-revision',
    ...base(fields, review.submitted_at),
    prNumber: pr.number,
    title: pr.title,
    instruction: instructionFrom(body, commandPrefix),
    headRef: pr.head.ref,
    source: { type: 'review', id: review.id, reviewId: review.id },
  };
}
