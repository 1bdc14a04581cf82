import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll } from 'vitest';
import { makeBareRemote, makeRepo } from './git-fixtures.js';
import { setupGitHubMock } from './github-mock.js';
import { ensureTestImage } from './sandbox-image.js';
import { startScriptedLLM } from './scripted-llm-server.js';
import { ALL_STAGES, type ScriptedLLM, type stageRouter } from './stage-router.js';
import { startTestApp, type StartedTestApp, type TestAppOptions } from './test-app.js';

/**
 * What every whole-pipeline test file sets up: the sandbox image, a scripted LLM, the app with
 * every stage, repositories in a temporary directory and the GitHub mock; all of it is torn down
 * after each test. Call it inside `describe`.
 */
export function usePipelineHarness(prefix: string) {
  let image = '';
  let tmp: string | undefined;
  let started: StartedTestApp | undefined;
  let llm: ScriptedLLM | undefined;
  const closers: Array<() => Promise<void>> = [];
  const github = setupGitHubMock();

  beforeAll(async () => {
    image = await ensureTestImage();
  }, 900_000);

  afterEach(async () => {
    await started?.stop();
    await llm?.close();
    for (const close of closers.splice(0)) await close();
    started = undefined;
    llm = undefined;
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    tmp = undefined;
  });

  const dir = () => (tmp ??= mkdtempSync(join(tmpdir(), `telecoder-${prefix}-`)));

  return {
    /** This test's temporary directory. */
    dir,
    /** Closed after the test (a git server, say). */
    onCleanup(close: () => Promise<void>) {
      closers.push(close);
    },
    /** The app with every stage unless options.env says otherwise; the LLM server is kept across restarts. */
    async start(router: ReturnType<typeof stageRouter>, options: Partial<TestAppOptions> = {}) {
      llm ??= await startScriptedLLM(router.script);
      started = await startTestApp({
        image,
        llmUrl: llm.url,
        provider: 'anthropic',
        ...options,
        env: { TELECODER_STAGES: ALL_STAGES, ...options.env },
      });
      return started.app;
    },
    /** Stops the app but keeps its data dir, for a restart on the same data. */
    async restart() {
      await started?.stop({ keepData: true });
      started = undefined;
    },
    localRepo(files: Record<string, string>) {
      return makeRepo(join(dir(), 'project'), files);
    },
    /** acme/widgets as a bare remote under a directory the GitHub provider is pointed at. */
    remote(files: Record<string, string>) {
      const remotes = join(dir(), 'remotes');
      makeBareRemote(join(remotes, 'acme', 'widgets.git'), files);
      return { gitUrl: `file://${remotes}`, remotes };
    },
    /** Mocks what a task on acme/widgets asks GitHub, and records the pull request it opens. */
    capturePullRequest(number: number) {
      const sent: { body?: string; draft?: boolean } = {};
      github.scope
        .get('/repos/acme/widgets')
        .times(2)
        .reply(200, { default_branch: 'main', html_url: 'https://github.com/acme/widgets' })
        .post('/repos/acme/widgets/pulls', (body: { body?: string; draft?: boolean }) => ((sent.body = body.body), (sent.draft = body.draft), true))
        .reply(201, { html_url: `https://github.com/acme/widgets/pull/${number}`, number });
      return sent;
    },
    get url(): string {
      if (!started) throw new Error('the app is not started');
      return started.url;
    },
  };
}
