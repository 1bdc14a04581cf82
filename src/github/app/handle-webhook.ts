import type { SessionService } from '../../engine/session-service.js';
import { DuplicateDeliveryError, errorMessage } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { TaskOptions, TaskRequest } from '../../model/session.js';
import type { SessionStore } from '../../store/session-store.js';
import { checkActor } from '../check-actor.js';
import { parseTrigger } from '../parse-trigger.js';
import type { RepoConfig } from '../parse-repo-config.js';
import { refusalMessage } from '../refusal-message.js';
import { sanitizeUntrustedText } from '../sanitize-untrusted-text.js';
import type { CommentTaskTrigger, IssueTaskTrigger, PrRevisionTrigger } from '../trigger.js';
import { issueTaskPrompt, listReviewComments, revisionPrompt } from './build-github-prompt.js';
import type { GitHubApi, RepoCoordinates } from './github-api.js';
import type { GitHubOrigin } from './github-origin.js';
import { loadRepoConfig, type ReadConfigFile } from './load-repo-config.js';
import { createPermissionChecker } from './permission-checker.js';
import { checkRevisable, fetchPullRequest, fetchPullRequestDiff, RefusedRequestError, type PullRequestFacts } from './pull-request-facts.js';
import { bodylessReviewTrigger, reviewCommentStandsAlone, reviewHasSeveralComments } from './review-scope.js';
import type { BackgroundWork } from './background-work.js';
import { failedBeforeStartText } from './tracking-comment-text.js';

/** One webhook delivery, as Probot's context carries it. */
export interface WebhookDelivery {
  /** X-GitHub-Delivery. */
  id: string;
  /** X-GitHub-Event, e.g. `issues`. */
  name: string;
  payload: unknown;
  /** Authenticated as the installation the event came through. */
  github: GitHubApi;
  readConfig: ReadConfigFile;
  /**
   * False while the inbox will try the delivery again: a failing GitHub read then only gives the
   * delivery back and throws; the failure is reported in the thread on the last attempt.
   */
  lastAttempt?: boolean;
}

export interface WebhookDeps {
  service: Pick<SessionService, 'submit'>;
  deliveries: Pick<SessionStore, 'claimDelivery' | 'releaseDelivery'>;
  /** The server's trigger label (TELECODER_TRIGGER_LABEL), unless a repository sets its own. */
  triggerLabel: string;
  logger: Logger;
  /** Writes that must not hold up the webhook's answer (reactions, refusals). */
  background: BackgroundWork;
}

type WorkTrigger = IssueTaskTrigger | CommentTaskTrigger | PrRevisionTrigger;

/**
 * Turns one delivery into at most one session. Gates run cheapest first: what the event asks
 * (pure), who sent it (pure, bots get no answer), the delivery id (claimed before any side
 * effect), then the sender's permission (refused people get one polite comment). Only then the
 * prompt and the session. It runs from the webhook inbox, after GitHub got its answer: the 👀
 * reaction and any refusal are written in the background, and the tracking comment is created by
 * the reporter on the session's first event. A failure before the session is stored gives the
 * delivery back and throws (the inbox tries again); on the last attempt it also says what went
 * wrong in a comment.
 */
export async function handleWebhook(delivery: WebhookDelivery, deps: WebhookDeps): Promise<void> {
  const payload = (delivery.payload ?? {}) as { action?: unknown; sender?: { login?: unknown; type?: unknown } };
  const event = `${delivery.name}.${String(payload.action)}`;
  const log = deps.logger.child({ delivery: delivery.id, event });

  let repoConfig: RepoConfig | undefined;
  if (delivery.name === 'issues') {
    // Only these can carry the trigger label, and only they need the repository's label to decide.
    if (payload.action !== 'labeled' && payload.action !== 'opened') return log.debug(`${event}: not an event TeleCoder acts on`);
    const sender = checkActor({ login: payload.sender?.login as string, type: payload.sender?.type as string });
    if (!sender.allowed) return log.debug(`${event}: ${sender.reason}`);
    repoConfig = await loadRepoConfig(delivery.readConfig, deps.triggerLabel, log, { retrying: delivery.lastAttempt === false });
  }
  const parseOptions = { triggerLabel: repoConfig?.triggerLabel ?? deps.triggerLabel };
  let trigger = parseTrigger({ name: delivery.name, payload: delivery.payload }, parseOptions);
  const bodyless = trigger.kind === 'ignored' ? bodylessReviewTrigger(delivery.name, delivery.payload, parseOptions) : undefined;
  if (bodyless) trigger = bodyless;
  if (trigger.kind === 'ignored') return log.debug(trigger.reason);

  const actor = checkActor(trigger.actor);
  if (!actor.allowed) return log.debug(`${event}: ${actor.reason}`);
  if (trigger.installationId === undefined) {
    return log.warn(`${event}: the payload names no installation, so TeleCoder cannot answer; is this a GitHub App webhook?`);
  }
  const where: RepoCoordinates = { owner: trigger.repo.owner, repo: trigger.repo.name };
  const github = delivery.github;
  const work = trigger;
  const number = work.kind === 'pr-revision' ? work.prNumber : work.issueNumber;
  const say = (what: string, body: string) => deps.background.run(what, () => comment(github, where, number, body));
  let claimed = false;
  let permitted = false;
  const canWrite = createPermissionChecker(github, where);
  try {
    if (bodyless && !(await reviewHasSeveralComments(github, where, bodyless))) {
      return log.debug(`${event}: a bodyless review with at most one line comment is handled through that comment`);
    }
    if (!bodyless && work.kind === 'pr-revision' && !(await reviewCommentStandsAlone(github, where, work))) {
      return log.debug(`${event}: the line comment belongs to a review that is handled as a whole`);
    }

    if (!deps.deliveries.claimDelivery(delivery.id, event)) return log.debug(`${event}: delivery already handled`);
    claimed = true;
    const permission = await canWrite(work.actor.login);
    if (!permission.allowed) {
      log.info({ actor: work.actor.login, reason: permission.reason }, 'refused: no write access');
      say('post the refusal', refusalMessage(work.actor.login));
      return;
    }
    permitted = true;

    let pr: PullRequestFacts | undefined;
    if (work.kind === 'pr-revision') {
      pr = await fetchPullRequest(github, where, work.prNumber);
      checkRevisable(pr, where);
    }

    repoConfig ??= await loadRepoConfig(delivery.readConfig, deps.triggerLabel, log, { retrying: delivery.lastAttempt === false });
    const request = await buildRequest({ github, where, trigger: work, pr, repoConfig, canWrite });
    const origin: GitHubOrigin = {
      kind: 'github',
      requestedBy: work.actor.login,
      installationId: work.installationId!,
      owner: where.owner,
      repo: where.repo,
      number,
      ...(work.kind === 'pr-revision' && work.source.type === 'review-comment' ? { reviewCommentId: work.source.id } : {}),
    };
    const session = deps.service.submit({ ...request, origin, deliveryId: delivery.id });
    log.info({ session: session.id, actor: work.actor.login }, `${work.kind} session queued`);
    deps.background.run('add the 👀 reaction', () => react(github, where, work));
  } catch (error) {
    if (error instanceof DuplicateDeliveryError) return log.debug(`${event}: delivery already has session ${error.sessionId}`);
    if (error instanceof RefusedRequestError) {
      // A definite answer: the delivery stays handled, so a redelivery does not ask again.
      log.info({ reason: error.message }, 'refused');
      say('explain the refusal', `🚫 ${error.message}`);
      return;
    }
    if (claimed) deps.deliveries.releaseDelivery(delivery.id);
    if (delivery.lastAttempt !== false) {
      // Only someone who may ask TeleCoder for work hears why it could not start: an outsider's
      // event (one that made a read fail, say, by deleting its review) must not make it post.
      const mayHear = permitted || (await canWrite(work.actor.login).then((answer) => answer.allowed, () => false));
      if (mayHear) say('report the failure', failedBeforeStartText(errorMessage(error)));
      else log.warn({ actor: work.actor.login, err: error }, 'gave up on a delivery from someone without write access; nothing posted');
    }
    throw error;
  }
}

async function buildRequest(input: {
  github: GitHubApi;
  where: RepoCoordinates;
  trigger: WorkTrigger;
  pr: PullRequestFacts | undefined;
  repoConfig: RepoConfig;
  canWrite: ReturnType<typeof createPermissionChecker>;
}): Promise<Omit<TaskRequest, 'origin' | 'deliveryId'>> {
  const { github, where, trigger, pr, repoConfig } = input;
  const repo = `${where.owner}/${where.repo}`;
  // What the repository's .github/telecoder.yml asks of every task and revision.
  const fromRepoConfig = {
    ...(repoConfig.instructions ? { instructions: repoConfig.instructions } : {}),
    ...(repoConfig.maxRevisions !== undefined ? { maxRevisions: repoConfig.maxRevisions } : {}),
    ...(repoConfig.setupCommands ? { setupCommands: repoConfig.setupCommands } : {}),
    ...(repoConfig.testCommands ? { testCommands: repoConfig.testCommands } : {}),
    // Read from the default branch before the agent starts, so the agent cannot grant it itself.
    ...(repoConfig.allowWorkflowChanges ? { allowWorkflowChanges: true } : {}),
  };
  const agent = repoConfig.agent ? { agent: repoConfig.agent } : {};
  if (trigger.kind === 'pr-revision') {
    const [diff, reviewComments] = await Promise.all([
      fetchPullRequestDiff(github, where, trigger.prNumber),
      trigger.source.type === 'review' ? listReviewComments(github, where, trigger.prNumber, trigger.source.id) : undefined,
    ]);
    const options: TaskOptions = {
      revision: { prNumber: trigger.prNumber, prUrl: pr!.url, headBranch: pr!.headRef },
      title: `address review feedback on #${trigger.prNumber}`,
      ...fromRepoConfig,
    };
    return { repo, ...agent, prompt: revisionPrompt({ where, trigger, diff, ...(reviewComments ? { reviewComments } : {}) }), options };
  }
  const options: TaskOptions = {
    issueNumber: trigger.issueNumber,
    // The issue's title names the work; the prompt itself is fenced context.
    title: sanitizeUntrustedText(trigger.title, { maxLength: 200 }),
    ...(repoConfig.draft ? { draft: true } : {}),
    ...(repoConfig.baseBranch ? { baseBranch: repoConfig.baseBranch } : {}),
    ...fromRepoConfig,
  };
  return { repo, ...agent, prompt: await issueTaskPrompt({ github, where, trigger, canWrite: input.canWrite }), options };
}

async function comment(github: GitHubApi, where: RepoCoordinates, number: number, body: string): Promise<number> {
  const { data } = await github.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', { ...where, issue_number: number, body });
  return Number(data.id);
}

export async function editComment(github: GitHubApi, where: RepoCoordinates, commentId: number, body: string): Promise<void> {
  await github.request('PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}', { ...where, comment_id: commentId, body });
}

/** 👀 on what asked: the issue, the comment, the line comment, or (a review has none) the pull request. */
async function react(github: GitHubApi, where: RepoCoordinates, trigger: WorkTrigger): Promise<void> {
  const content = 'eyes' as const;
  if (trigger.kind === 'issue-task') {
    await github.request('POST /repos/{owner}/{repo}/issues/{issue_number}/reactions', { ...where, issue_number: trigger.issueNumber, content });
  } else if (trigger.kind === 'comment-task') {
    await github.request('POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions', { ...where, comment_id: trigger.commentId, content });
  } else if (trigger.source.type === 'issue-comment') {
    await github.request('POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions', { ...where, comment_id: trigger.source.id, content });
  } else if (trigger.source.type === 'review-comment') {
    await github.request('POST /repos/{owner}/{repo}/pulls/comments/{comment_id}/reactions', { ...where, comment_id: trigger.source.id, content });
  } else {
    await github.request('POST /repos/{owner}/{repo}/issues/{issue_number}/reactions', { ...where, issue_number: trigger.prNumber, content });
  }
}
