/**
 * What a GitHub webhook asks TeleCoder to do, once the payload's fields were checked. The Probot
 * handlers translate a `Trigger` into a `TaskRequest`; everything here is plain data.
 */

export interface RepoRef {
  owner: string;
  name: string;
}

/** The account that performed the action (the payload's `sender`). */
export interface TriggerActor {
  login: string;
  /** GitHub's account type: `User`, `Bot`, `Organization`, … */
  type: string;
}

interface TriggerBase {
  repo: RepoRef;
  actor: TriggerActor;
  /**
   * When the trigger happened (ISO 8601, UTC). Comments created after it are not shown to the
   * agent, so an edit or a comment posted after the request cannot change what was asked.
   */
  triggerAt: string;
  /** The GitHub App installation the event came through, when the payload names one. */
  installationId?: number;
}

/** An issue labelled with the trigger label, or opened already carrying it. */
export interface IssueTaskTrigger extends TriggerBase {
  kind: 'issue-task';
  cause: 'labeled' | 'opened';
  issueNumber: number;
  title: string;
  /** The issue body as the payload carried it: the version at trigger time. */
  body: string;
}

/** `/telecoder …` commented on an issue. */
export interface CommentTaskTrigger extends TriggerBase {
  kind: 'comment-task';
  issueNumber: number;
  title: string;
  body: string;
  /** The text after the command; absent when the command stood alone (the issue is the task). */
  instruction?: string;
  commentId: number;
}

export interface ReviewCommentRef {
  path: string;
  /** The line in the file the comment is on; null when GitHub gives none (an outdated comment). */
  line: number | null;
  diffHunk: string;
  body: string;
  inReplyToId?: number;
}

/** A request to change a pull request TeleCoder is working on (or was asked to revise). */
export interface PrRevisionTrigger extends TriggerBase {
  kind: 'pr-revision';
  prNumber: number;
  title: string;
  /** What to change; empty when the request carried no text (address the review feedback). */
  instruction: string;
  /**
   * The pull request's head branch when the payload names it. An `issue_comment` payload does
   * not, so the handler must fetch the pull request and refuse forks and foreign branches itself.
   */
  headRef?: string;
  source: {
    type: 'issue-comment' | 'review-comment' | 'review';
    id: number;
    /**
     * The review a review comment belongs to. GitHub sends one event per line comment of a review
     * plus one for the review itself; handlers coalesce revisions that share a review.
     */
    reviewId?: number;
  };
  reviewComment?: ReviewCommentRef;
}

/** Anything that does not start work. `reason` is for a debug log line, never shown to users. */
export interface IgnoredTrigger {
  kind: 'ignored';
  reason: string;
}

export type Trigger = IssueTaskTrigger | CommentTaskTrigger | PrRevisionTrigger | IgnoredTrigger;
export type TriggerKind = Trigger['kind'];

/** Head branches of TeleCoder's own pull requests start with this. */
export const TELECODER_BRANCH_PREFIX = 'telecoder/';
export const DEFAULT_COMMAND_PREFIX = '/telecoder';
