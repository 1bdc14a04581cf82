import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll } from 'vitest';
import { makeBareRemote, makeRepo } from './git-fixtures.js';
import { startGitHttpServer, type GitHttpServerOptions } from './git-http-server.js';
import { ensureTestImage } from './sandbox-image.js';
import { startScriptedLLM, type ScriptedLLM, type ScriptStep } from './scripted-llm-server.js';
import { startTestApp, type StartedTestApp, type TestAppOptions } from './test-app.js';

export interface AppHarnessStart extends Partial<TestAppOptions> {
  /** The scripted LLM's answers; needed at the first start only (the LLM server is kept across restarts). */
  script?: ScriptStep[];
}

/**
 * What every in-process app test file sets up: the sandbox image, a scripted LLM, the app and a
 * temporary directory; all of it is torn down after each test (the app, then the LLM, then what
 * `onCleanup` was given, then the directory). Call it inside `describe`.
 */
export function useAppHarness(prefix: string) {
  let image = '';
  let tmp: string | undefined;
  let started: StartedTestApp | undefined;
  let llm: ScriptedLLM | undefined;
  const closers: Array<() => Promise<void> | void> = [];

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
  /** acme/widgets as a bare remote under <dir>/remotes, the directory the GitHub provider is pointed at. */
  const remote = (files: Record<string, string>) => {
    const remotes = join(dir(), 'remotes');
    const bare = makeBareRemote(join(remotes, 'acme', 'widgets.git'), files);
    return { bare, gitUrl: `file://${remotes}`, remotes };
  };
  const startLLM = async (script: ScriptStep[]): Promise<ScriptedLLM> => (llm ??= await startScriptedLLM(script));
  const running = () => {
    if (!started) throw new Error('the app is not started');
    return started;
  };

  return {
    /** This test's temporary directory. */
    dir,
    /** Run after the test, once the app and the LLM are stopped (a git server, leftover containers). */
    onCleanup(close: () => Promise<void> | void) {
      closers.push(close);
    },
    /** The scripted LLM alone (for a server run apart from the harness); kept until the end of the test. */
    startLLM,
    /** The app on the scripted LLM (the anthropic wire format unless options.provider says otherwise). */
    async start(options: AppHarnessStart = {}): Promise<StartedTestApp> {
      const { script, ...app } = options;
      if (!llm && !script) throw new Error('the first start needs a script for the LLM');
      const { url } = await startLLM(script!);
      started = await startTestApp({ image, llmUrl: url, provider: 'anthropic', ...app });
      return started;
    },
    /** Stops the app (options.keepData keeps its data dir, for a start on the same data); the LLM stays. */
    async stop(options: { keepData?: boolean } = {}) {
      await started?.stop(options);
      started = undefined;
    },
    /** A working repository with `files` committed on options.branch (default main), at <dir>/project. */
    localRepo(files: Record<string, string>, options: { branch?: string } = {}) {
      return makeRepo(join(dir(), 'project'), files, options.branch);
    },
    remote,
    /** acme/widgets as `remote` makes it, served by a git HTTP server (closed after the test) the provider is pointed at. */
    async remoteOverHttp(files: Record<string, string>, options: Omit<GitHttpServerOptions, 'root'> = {}) {
      const { bare, remotes } = remote(files);
      const server = await startGitHttpServer({ root: remotes, ...options });
      closers.push(() => server.close());
      return { bare, server, gitUrl: server.url };
    },
    /** The sandbox image (set once beforeAll has run). */
    get image(): string {
      return image;
    },
    get started(): StartedTestApp {
      return running();
    },
    get app() {
      return running().app;
    },
    get url(): string {
      return running().url;
    },
    get llm(): ScriptedLLM {
      if (!llm) throw new Error('the LLM is not started');
      return llm;
    },
  };
}
