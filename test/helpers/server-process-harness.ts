import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { instanceIdOf, removeInstanceResources } from './docker-leftovers.js';
import { startGitHubStandIns } from './github-stand-ins.js';
import { ensureTestImage } from './sandbox-image.js';
import { startScriptedLLM, type ScriptStep } from './scripted-llm-server.js';
import { startServerProcess, type ServerProcess } from './server-process.js';
import { testEnv } from './test-app.js';
import { transpileSources, type TranspiledSources } from './transpile-sources.js';

export interface ServerProcessSetUp {
  /** The scripted model's answers, for every server of the test. */
  script: ScriptStep[];
  /** The git request the stand-ins' proxy holds in flight. */
  holdGit?: (req: IncomingMessage) => boolean;
  /** Set last in every server's environment (TELECODER_WARM_SANDBOXES, LOG_LEVEL, …). */
  env?: Record<string, string>;
}

/**
 * What a test file that runs `telecoder serve` in child processes sets up: the sandbox image and a
 * private build of src/ for the whole file; for each test, GitHub stand-ins, a scripted LLM and
 * the servers' environment. Everything a test set up is undone after it, last first: its servers
 * are killed and what their instance left on Docker is removed. Call it inside `describe`.
 */
export function useServerProcessHarness(prefix: string) {
  let image: string;
  let build: TranspiledSources;
  let buildDir: string;
  const cleanups: Array<() => Promise<void> | void> = [];

  beforeAll(async () => {
    image = await ensureTestImage();
    buildDir = mkdtempSync(join(tmpdir(), 'telecoder-build-'));
    build = transpileSources(buildDir);
  }, 900_000);

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  afterAll(() => {
    if (buildDir) rmSync(buildDir, { recursive: true, force: true });
  });

  return {
    /** This test's stand-ins, LLM and server environment; `startServer` starts a server on them (again after a kill). */
    async setUp(options: ServerProcessSetUp) {
      const tmp = mkdtempSync(join(tmpdir(), `telecoder-${prefix}-`));
      cleanups.push(() => rmSync(tmp, { recursive: true, force: true }));
      const standIns = await startGitHubStandIns({ dir: tmp, ...(options.holdGit ? { holdGit: options.holdGit } : {}) });
      cleanups.push(() => standIns.close());
      const llm = await startScriptedLLM(options.script);
      cleanups.push(() => llm.close());

      const dataDir = join(tmp, 'data');
      const env = {
        ...process.env,
        ...testEnv({ image, llmUrl: llm.url, provider: 'anthropic', dataDir }),
        ...standIns.env,
        // One session at a time: the second one waits in the queue.
        TELECODER_MAX_CONCURRENT: '1',
        LOG_LEVEL: 'warn' as const,
        ...options.env,
      };
      const servers: ServerProcess[] = [];
      cleanups.push(async () => {
        for (const server of servers) await server.kill();
        if (existsSync(join(dataDir, 'telecoder.db'))) removeInstanceResources(instanceIdOf(dataDir));
      });

      return {
        standIns,
        llm,
        dataDir,
        async startServer(): Promise<ServerProcess> {
          const server = await startServerProcess({ cli: build.cli, env });
          servers.push(server);
          return server;
        },
      };
    },
  };
}
