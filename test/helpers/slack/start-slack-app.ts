import { startFakeGitHubApi, type FakeGitHubApi } from '../fake-github-api.js';
import type { useAppHarness } from '../app-harness.js';
import type { ScriptStep } from '../scripted-llm-server.js';
import { startSlackStandIn, type SlackStandIn } from './slack-stand-in.js';

export const ALICE = 'U0ALICE';
export const GENERAL = 'C0GENERAL';

export interface SlackApp {
  slack: SlackStandIn;
  github: FakeGitHubApi;
  /** The bare repository behind acme/widgets. */
  bare: string;
  /** Stops TeleCoder and starts it again on the same data, stand-ins and settings (a restart). */
  restart(): Promise<void>;
}

/**
 * The whole TeleCoder (real engine, Docker, scripted LLM) with its Slack door connected to the
 * Slack stand-ins, acme/widgets behind a GitHub stand-in, Alice allowed and acme/widgets the
 * default repository unless `env` says otherwise.
 */
export async function startSlackApp(
  harness: ReturnType<typeof useAppHarness>,
  options: { script: ScriptStep[]; env?: Record<string, string> },
): Promise<SlackApp> {
  const slack = await startSlackStandIn();
  harness.onCleanup(() => slack.close());
  const github = await startFakeGitHubApi();
  harness.onCleanup(() => github.close());
  const { bare, gitUrl } = harness.remote({ 'README.md': '# Widgets\n' });
  const env = { ...slack.env, GITHUB_API_URL: github.url, SLACK_ALLOWED_USERS: ALICE, SLACK_DEFAULT_REPO: 'acme/widgets', ...options.env };
  await harness.start({ script: options.script, gitUrl, env });
  await slack.socket.waitForConnection();
  return {
    slack,
    github,
    bare,
    async restart() {
      const { dataDir } = harness.started;
      await harness.stop({ keepData: true });
      await harness.start({ dataDir, gitUrl, env });
    },
  };
}
