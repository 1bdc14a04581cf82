import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/logger.js';
import { TeleCoderBuilder, type TeleCoder } from '../../src/telecoder.js';
import { TEST_BASE_IMAGE } from './sandbox-image.js';
import { removeInstanceResources } from './docker-leftovers.js';

export const CANARY_GITHUB_TOKEN = 'ghp_CANARYgithubTOKEN0123456789abcdefABCD';
export const CANARY_LLM_KEY = 'sk-CANARYllmKEY-0123456789abcdef';

export interface TestAppOptions {
  image: string;
  /** Base URL of the scripted LLM server (its root, without /v1). */
  llmUrl: string;
  provider: 'anthropic' | 'openai';
  /** Where the GitHub provider clones from and pushes to (a directory of bare remotes). */
  gitUrl?: string;
  dataDir?: string;
  env?: Record<string, string>;
  /** Replace parts before the app is built (a broken Docker, a custom provider). */
  customize?: (builder: TeleCoderBuilder) => void;
}

/** The whole application with real parts, configured the way an operator would: by environment. */
export function testEnv(options: TestAppOptions & { dataDir: string }): NodeJS.ProcessEnv {
  return {
    TELECODER_DATA_DIR: options.dataDir,
    TELECODER_ADDR: '127.0.0.1:0',
    TELECODER_DOCKER_IMAGE: options.image,
    TELECODER_SANDBOX_BASE_IMAGE: TEST_BASE_IMAGE,
    // Tests that need no network have none; those that do set TELECODER_EGRESS themselves.
    TELECODER_EGRESS: 'none',
    TELECODER_SANDBOX_MEMORY: '1gb',
    TELECODER_SANDBOX_CPUS: '1',
    TELECODER_LLM_PROVIDER: options.provider,
    TELECODER_LLM_MAX_RETRIES: '2',
    TELECODER_MODEL: 'scripted-model',
    GITHUB_TOKEN: CANARY_GITHUB_TOKEN,
    TELECODER_GIT_URL: options.gitUrl ?? 'file:///nonexistent',
    // No warm pool unless a test asks for one (its own tests do; TEST_WARM_SANDBOXES=1 runs
    // every test with it): a pool sandbox carries its session in the store, not in its labels.
    TELECODER_WARM_SANDBOXES: process.env.TEST_WARM_SANDBOXES ?? '0',
    // The agent alone: tests that script only the agent's requests. Pipeline tests set the stages.
    TELECODER_STAGES: 'code',
    // GitHub writes are spaced 1 s apart in production; mocked GitHub needs no spacing (the write-rate test sets its own).
    TELECODER_GITHUB_WRITE_INTERVAL: '1ms',
    ...(options.provider === 'anthropic'
      ? { ANTHROPIC_API_KEY: CANARY_LLM_KEY, ANTHROPIC_BASE_URL: options.llmUrl }
      : { OPENAI_API_KEY: CANARY_LLM_KEY, OPENAI_BASE_URL: `${options.llmUrl}/v1` }),
    ...options.env,
  };
}

export interface StartedTestApp {
  app: TeleCoder;
  dataDir: string;
  url: string;
  stop(options?: { keepData?: boolean }): Promise<void>;
}

export async function startTestApp(options: TestAppOptions): Promise<StartedTestApp> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'telecoder-e2e-data-'));
  const config = loadConfig(testEnv({ ...options, dataDir }));
  const builder = new TeleCoderBuilder()
    .withConfig(config)
    .withLogger(createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'))
    // Tests mock every read of the repository configuration, a missing one included (its own test
    // in github-inbox.test.ts turns the memory of a missing file back on).
    .withWebhookInbox({ missingConfigMs: 0 });
  options.customize?.(builder);
  const app = builder.build();
  await app.start();
  return {
    app,
    dataDir,
    url: app.url,
    async stop(stopOptions = {}) {
      // Each test's data dir is its own instance: its dependency volumes would outlive it otherwise.
      if (!stopOptions.keepData) await app.engine.pruneCaches().catch(() => undefined);
      const instanceId = app.store.instanceId();
      await app.stop();
      if (stopOptions.keepData) return;
      // What prune keeps (volumes of repositories stored sessions name, snapshot images) is this
      // test's alone: nothing else uses its instance id.
      removeInstanceResources(instanceId);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Waits until the session reaches a final status (polls the store: no timers inside the app). */
export async function waitForFinal(app: TeleCoder, id: string, timeoutMs = 90_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const session = app.store.getSession(id);
    if (session && ['complete', 'error', 'stopped'].includes(session.status)) return session;
    if (Date.now() > deadline) throw new Error(`session ${id} still ${session?.status} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
