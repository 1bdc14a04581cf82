import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { makeBareRemote } from './git-fixtures.js';
import { appEnv, appPrivateKey } from './github-app-webhooks.js';
import { ensureTestImage } from './sandbox-image.js';
import { startScriptedLLM, type ScriptedLLM, type ScriptStep } from './scripted-llm-server.js';
import { startTestApp, type StartedTestApp } from './test-app.js';

export interface GitHubAppServerOptions {
  /** Names the temporary directory: telecoder-<prefix>-…. */
  prefix: string;
  /** The webhook secret deliveries are signed with. */
  secret: string;
  /** The scripted model's answers for the whole file. */
  script: ScriptStep[];
}

/**
 * One app for the whole calling file, configured as a GitHub App (a fresh key, `secret`) on the
 * scripted LLM, with Codertocat/Hello-World as a bare remote in a temporary directory; stopped
 * after the file. Call it inside `describe`, after setupGitHubMock.
 */
export function useGitHubAppServer(options: GitHubAppServerOptions) {
  let tmp: string | undefined;
  let started: StartedTestApp | undefined;
  let llm: ScriptedLLM | undefined;

  beforeAll(async () => {
    process.env.NO_SMEE_SETUP = 'true';
    const image = await ensureTestImage();
    tmp = mkdtempSync(join(tmpdir(), `telecoder-${options.prefix}-`));
    makeBareRemote(join(tmp, 'remotes', 'Codertocat', 'Hello-World.git'), { 'README.md': '# Hello\n' });
    llm = await startScriptedLLM(options.script);
    started = await startTestApp({
      image,
      llmUrl: llm.url,
      provider: 'anthropic',
      gitUrl: `file://${join(tmp, 'remotes')}`,
      env: appEnv(appPrivateKey(), options.secret),
    });
  }, 900_000);

  afterAll(async () => {
    await started?.stop();
    await llm?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  return {
    get started(): StartedTestApp {
      if (!started) throw new Error('the app is not started');
      return started;
    },
    get app() {
      return this.started.app;
    },
    get url(): string {
      return this.started.url;
    },
    get llm(): ScriptedLLM {
      if (!llm) throw new Error('the LLM is not started');
      return llm;
    },
  };
}
