import { useAppHarness } from './app-harness.js';
import { capturePullRequest, setupGitHubMock } from './github-mock.js';
import { ALL_STAGES, type stageRouter } from './stage-router.js';
import type { TestAppOptions } from './test-app.js';

/**
 * What every whole-pipeline test file sets up: the app harness (sandbox image, scripted LLM, the
 * app, a temporary directory) with every stage, and the GitHub mock; all of it is torn down after
 * each test. Call it inside `describe`.
 */
export function usePipelineHarness(prefix: string) {
  const github = setupGitHubMock();
  const harness = useAppHarness(prefix);

  return {
    /** This test's temporary directory. */
    dir: harness.dir,
    /** Closed after the test (a git server, say). */
    onCleanup: harness.onCleanup,
    /** The app with every stage unless options.env says otherwise; the LLM server is kept across restarts. */
    async start(router: ReturnType<typeof stageRouter>, options: Partial<TestAppOptions> = {}) {
      const started = await harness.start({ script: router.script, ...options, env: { TELECODER_STAGES: ALL_STAGES, ...options.env } });
      return started.app;
    },
    /** Stops the app but keeps its data dir, for a restart on the same data. */
    restart: () => harness.stop({ keepData: true }),
    localRepo: harness.localRepo,
    /** acme/widgets as a bare remote under a directory the GitHub provider is pointed at. */
    remote(files: Record<string, string>) {
      const { gitUrl, remotes } = harness.remote(files);
      return { gitUrl, remotes };
    },
    /** Mocks what a task on acme/widgets asks GitHub, and records the pull request it opens. */
    capturePullRequest: (number: number) => capturePullRequest(github, number),
    get url(): string {
      return harness.url;
    },
  };
}
