/**
 * A session that cannot start because of the server's configuration, or because the request names
 * something unusable, is refused when it is asked for: 503 (the server lacks a setting) or 400
 * (the request is wrong), with how to fix it, and no session is stored. The real server (engine,
 * providers, Docker runtime) answers, and the real CLI prints what it said.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { describe, expect, it } from 'vitest';
import { DockerRuntime } from '../../src/sandbox/docker/docker-runtime.js';
import { useAppHarness } from '../helpers/app-harness.js';
import { runCliInProcess } from '../helpers/cli-in-process.js';
import { SANDBOX_CONTEXT_DIR, TEST_BASE_IMAGE } from '../helpers/sandbox-image.js';
import type { TestAppOptions } from '../helpers/test-app.js';

const INTERNAL_ERROR = /internal error/;

describe('sessions the server cannot run are refused up front, with the reason', () => {
  const harness = useAppHarness('refusals');

  async function start(options: Partial<TestAppOptions> = {}) {
    return harness.start({ script: [], ...options });
  }

  async function create(body: unknown) {
    const response = await fetch(`${harness.url}/api/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, error: ((await response.json()) as { error?: string }).error ?? '' };
  }

  const cli = (...args: string[]) => runCliInProcess({ server: harness.url, cwd: harness.dir() }, ...args);

  function expectNothingStored() {
    expect(harness.app.store.listSessions()).toEqual([]);
    expect(harness.llm.requests).toHaveLength(0);
  }

  it('no LLM key: 503 naming the variables to set, with or without a model; the CLI prints it', async () => {
    const repo = harness.localRepo({ 'README.md': '# hi\n' });
    await start({ env: { TELECODER_LLM_PROVIDER: '', ANTHROPIC_API_KEY: '' } });
    for (const body of [{ repo, prompt: 'fix it' }, { repo, prompt: 'fix it', model: 'some-model' }]) {
      const refused = await create(body);
      expect(refused.status, JSON.stringify(body)).toBe(503);
      expect(refused.error).toMatch(/No LLM provider is configured: set ANTHROPIC_API_KEY .* or OPENAI_API_KEY/);
    }
    const run = await cli('run', '--repo', repo, 'fix it');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^telecoder: No LLM provider is configured: set ANTHROPIC_API_KEY/);
    expect(run.stderr).not.toMatch(INTERNAL_ERROR);
    expectNothingStored();
  });

  it('no GITHUB_TOKEN: an owner/name repository gets 503 saying to set it; the CLI prints it', async () => {
    await start({ env: { GITHUB_TOKEN: '' } });
    const refused = await create({ repo: 'acme/widgets', prompt: 'fix it' });
    expect(refused.status).toBe(503);
    expect(refused.error).toMatch(/no GitHub token to reach acme\/widgets: set GITHUB_TOKEN to a token with contents and pull_requests write access/);
    // A pasted URL names the same repository, and meets the same answer.
    const run = await cli('run', '--repo', 'https://github.com/acme/widgets.git', 'fix it');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^telecoder: this server has no GitHub token to reach acme\/widgets: set GITHUB_TOKEN/);
    expectNothingStored();
  });

  it('a local path that is missing, or is no git repository, gets 400; the CLI prints it', async () => {
    await start();
    const missing = await create({ repo: join(harness.dir(), 'nowhere'), prompt: 'fix it' });
    expect(missing.status).toBe(400);
    expect(missing.error).toMatch(/nowhere does not exist or is not a directory; give the absolute path of a git repository/);

    const plain = join(harness.dir(), 'plain-folder');
    mkdirSync(plain);
    const notGit = await create({ repo: plain, prompt: 'fix it' });
    expect(notGit.status).toBe(400);
    expect(notGit.error).toMatch(/plain-folder is not a git repository .*; give the path of a repository's working tree or of a bare repository/);

    const run = await cli('run', '--repo', './plain-folder', 'fix it');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^telecoder: .*plain-folder is not a git repository/);
    expectNothingStored();
  });

  it('Docker unreachable: 503 with how to start it, before a session exists', async () => {
    const repo = harness.localRepo({ 'README.md': '# hi\n' });
    await start({
      customize: (builder) =>
        builder.withSandbox(
          new DockerRuntime({
            docker: new Dockerode({ socketPath: join(harness.dir(), 'no-docker.sock') }),
            image: harness.image,
            baseImage: TEST_BASE_IMAGE,
            contextDir: SANDBOX_CONTEXT_DIR,
          }),
        ),
    });
    const refused = await create({ repo, prompt: 'fix it' });
    expect(refused.status).toBe(503);
    expect(refused.error).toMatch(/^no session can start: Docker is unreachable at .*no-docker\.sock.*Start the Docker daemon/);
    const run = await cli('run', '--repo', repo, 'fix it');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^telecoder: no session can start: Docker is unreachable/);
    expectNothingStored();
  });
});
