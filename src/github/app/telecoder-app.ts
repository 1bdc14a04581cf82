import type { ApplicationFunction } from 'probot';
import { handleWebhook, type WebhookDeps } from './handle-webhook.js';

/** The webhook events that can ask TeleCoder to work. */
export const TELECODER_EVENTS = [
  'issues.opened',
  'issues.labeled',
  'issue_comment.created',
  'pull_request_review_comment.created',
  'pull_request_review.submitted',
] as const;

/**
 * TeleCoder as a Probot app: each delivery of the events above goes through `handleWebhook`,
 * authenticated as the installation it came from (Probot's `context.octokit`).
 */
export function createTeleCoderApp(deps: WebhookDeps): ApplicationFunction {
  return (app) => {
    app.on([...TELECODER_EVENTS], async (context) => {
      await handleWebhook(
        {
          id: context.id,
          name: context.name,
          payload: context.payload,
          github: context.octokit,
          readConfig: (fileName) => context.config(fileName),
        },
        deps,
      );
    });
  };
}
