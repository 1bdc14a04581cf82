import { handleWebhook, type WebhookDeps } from '../app/handle-webhook.js';
import type { InboxProcessorOptions } from './inbox-processor.js';
import type { InstallationOctokit, RepoConfigCache } from './repo-config-cache.js';

export interface InboxHandlerDeps extends WebhookDeps {
  /** Authenticates as an installation (Probot's `probot.auth`); tokens are cached until near expiry. */
  auth(installationId: number): Promise<InstallationOctokit>;
  configCache: RepoConfigCache;
}

/**
 * Runs `handleWebhook` for one stored delivery, as Probot's context would have: an Octokit
 * authenticated as the delivery's installation (its token is fetched on the first request, so
 * deliveries the gates drop cost no API call) and the repository's configuration, here cached.
 */
export function inboxHandler(deps: InboxHandlerDeps): InboxProcessorOptions['handle'] {
  return async (delivery, { lastAttempt }) => {
    const installationId = delivery.installationId;
    const github = installationId !== undefined ? await deps.auth(installationId) : undefined;
    const [owner = '', repo = ''] = (delivery.repository ?? '').split('/');
    await handleWebhook(
      {
        id: delivery.id,
        name: delivery.name,
        payload: delivery.payload,
        // Without an installation handleWebhook stops before any request (it says why in the log).
        github: github ?? noInstallation(),
        readConfig: async (fileName) => {
          if (!github || !owner || !repo) throw new Error('the delivery names no installation or repository to read the configuration of');
          return deps.configCache.read(github, { owner, repo }, fileName);
        },
        lastAttempt,
      },
      deps,
    );
  };
}

function noInstallation(): InstallationOctokit {
  const refuse = () => Promise.reject(new Error('the delivery names no installation, so TeleCoder cannot call GitHub for it'));
  return { request: refuse, paginate: refuse } as unknown as InstallationOctokit;
}
