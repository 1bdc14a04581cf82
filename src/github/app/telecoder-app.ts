import type { ApplicationFunction } from 'probot';
import type { InboxDelivery } from '../inbox/sqlite-webhook-inbox.js';

/** The webhook events that can ask TeleCoder to work. */
export const TELECODER_EVENTS = [
  'issues.opened',
  'issues.labeled',
  'issue_comment.created',
  'pull_request_review_comment.created',
  'pull_request_review.submitted',
] as const;

export interface TeleCoderAppDeps {
  /** Stores a delivery in the webhook inbox (InboxProcessor.accept); handled after the answer. */
  accept(delivery: Omit<InboxDelivery, 'attempts'>): unknown;
  /** A push: drops the cached repository configuration when the push changed it (RepoConfigCache.onPush). */
  onPush(payload: unknown): void;
}

/**
 * TeleCoder as a Probot app. Probot has checked the delivery's signature on the raw body before
 * these handlers run; they only store it, so GitHub's answer waits for one SQLite insert and
 * nothing it could fail on. The inbox handles it afterwards (src/github/inbox/).
 */
export function createTeleCoderApp(deps: TeleCoderAppDeps): ApplicationFunction {
  return (app) => {
    app.on([...TELECODER_EVENTS], async (context) => {
      const payload = context.payload as { installation?: { id?: unknown }; repository?: { full_name?: unknown } };
      const installationId = payload.installation?.id;
      const repository = payload.repository?.full_name;
      deps.accept({
        id: context.id,
        name: context.name,
        payload: context.payload,
        installationId: typeof installationId === 'number' ? installationId : undefined,
        repository: typeof repository === 'string' ? repository : undefined,
      });
    });
    app.on('push', async (context) => deps.onPush(context.payload));
  };
}
