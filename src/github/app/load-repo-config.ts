import type { Logger } from '../../logger.js';
import { parseRepoConfig, REPO_CONFIG_PATH, type RepoConfig } from '../parse-repo-config.js';
import { statusOf } from './github-api.js';

/** Probot's `context.config`: reads .github/<file> from the repository (or the owner's .github repo). */
export type ReadConfigFile = (fileName: string) => Promise<unknown>;

/**
 * The repository's `.github/telecoder.yml`, with the server's trigger label when the file names
 * none. A missing or broken file never stops TeleCoder: problems are logged and defaults used.
 * With `retrying` (the webhook inbox will try the delivery again), a read that GitHub failed
 * (a 5xx, a rate limit, the network) throws instead, so the defaults are used only when the
 * last attempt still cannot read it.
 */
export async function loadRepoConfig(
  readConfig: ReadConfigFile,
  serverTriggerLabel: string,
  log: Logger,
  options: { retrying?: boolean } = {},
): Promise<RepoConfig> {
  let raw: unknown;
  try {
    raw = await readConfig('telecoder.yml');
  } catch (error) {
    const status = statusOf(error);
    if (options.retrying && status !== undefined && (status >= 500 || status === 429)) throw error;
    log.warn({ err: error }, `could not read ${REPO_CONFIG_PATH}; using the defaults`);
    raw = null;
  }
  const withServerLabel =
    raw !== null && typeof raw === 'object' && !Array.isArray(raw)
      ? { ...raw, triggerLabel: (raw as { triggerLabel?: unknown }).triggerLabel ?? serverTriggerLabel }
      : raw === null || raw === undefined
        ? { triggerLabel: serverTriggerLabel }
        : raw;
  const { config, warnings } = parseRepoConfig(withServerLabel);
  for (const warning of warnings) log.warn(warning);
  return config;
}
