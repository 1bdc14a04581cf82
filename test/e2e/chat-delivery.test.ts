import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { git, makeBareRemote } from '../helpers/git-fixtures.js';
import { startGitHttpServer, type GitHttpServer, type GitHttpServerOptions } from '../helpers/git-http-server.js';
import { setupGitHubMock } from '../helpers/github-mock.js';
import { ensureTestImage } from '../helpers/sandbox-image.js';
import { startScriptedLLM } from '../helpers/scripted-llm-server.js';
import { startTestApp, type StartedTestApp, type TestAppOptions } from '../helpers/test-app.js';

type ScriptedLLM = Awaited<ReturnType<typeof startScriptedLLM>>;

const finish = (summary: string) => ({ toolCalls: [{ name: 'finish', arguments: { summary } }] });
const writeFile = (path: string, content: string) => ({ toolCalls: [{ name: 'write_file', arguments: { path, content } }] });
const REPO = { html_url: 'https://github.com/acme/widgets', default_branch: 'main' };

/** A gate the git server holds a push at until the test opens it. */
function pushGate() {
  let open!: () => void;
  let reached!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  const arrived = new Promise<void>((resolve) => (reached = resolve));
  return {
    /** Resolves once a push is being held. */
    arrived,
    open,
    intercept: (async (request) => {
      if (request.advertised !== 'git-receive-pack') return;
      reached();
      await opened;
    }) satisfies GitHttpServerOptions['intercept'],
  };
}

/** Whether a promise has settled within `ms`. */
async function settledWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false;
  void promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((resolve) => setTimeout(resolve, ms));
  return settled;
}

describe('chat delivery: /pr is retryable until the pull request exists, and stop or shutdown never removes the clone under a push', () => {
  let image: string;
  let tmp: string | undefined;
  let started: StartedTestApp | undefined;
  let llm: ScriptedLLM | undefined;
  let gitServer: GitHttpServer | undefined;
  const github = setupGitHubMock();

  beforeAll(async () => {
    image = await ensureTestImage();
  }, 900_000);

  afterEach(async () => {
    await started?.stop();
    await llm?.close();
    await gitServer?.close();
    started = undefined;
    llm = undefined;
    gitServer = undefined;
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    tmp = undefined;
  });

  /** acme/widgets behind a real git HTTP server (which `intercept` may hold or fail), and the app. */
  async function startWith(script: Parameters<typeof startScriptedLLM>[0], options: { intercept?: GitHttpServerOptions['intercept']; app?: Partial<TestAppOptions> } = {}) {
    tmp = mkdtempSync(join(tmpdir(), 'telecoder-chat-delivery-'));
    const remotes = join(tmp, 'remotes');
    const bare = makeBareRemote(join(remotes, 'acme', 'widgets.git'), { 'README.md': '# Widgets\n' });
    gitServer = await startGitHttpServer({ root: remotes, ...(options.intercept ? { intercept: options.intercept } : {}) });
    llm = await startScriptedLLM(script);
    started = await startTestApp({ image, llmUrl: llm.url, provider: 'anthropic', gitUrl: gitServer.url, ...options.app });
    return bare;
  }

  async function call(method: 'GET' | 'POST', path: string, body?: unknown) {
    const response = await fetch(`${started!.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as any };
  }

  async function chatUntilIdle(prompt: string): Promise<string> {
    const created = await call('POST', '/api/sessions', { repo: 'acme/widgets', prompt, mode: 'chat' });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const deadline = Date.now() + 90_000;
    for (;;) {
      const session = started!.app.store.getSession(id)!;
      if (session.status === 'idle') return id;
      if (['complete', 'error', 'stopped'].includes(session.status)) throw new Error(`chat ended ${session.status}: ${session.error}`);
      if (Date.now() > deadline) throw new Error(`chat still ${session.status}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  it('a /pr whose pull request GitHub refused is retried: the branch is not pushed twice, the pull request opens (a draft showing the held-back workflow)', async () => {
    const bare = await startWith([
      writeFile('a.txt', 'first\n'),
      writeFile('.github/workflows/ci.yml', 'on: push\njobs:\n  leak:\n    runs-on: ubuntu-latest\n    steps: [{ run: "echo $SECRET" }]\n'),
      finish('Added a.txt and a workflow.'),
    ]);
    let sent: { body?: string; draft?: boolean; head?: string } = {};
    github.scope
      .get('/repos/acme/widgets')
      .times(2)
      .reply(200, REPO)
      .post('/repos/acme/widgets/pulls')
      .reply(403, { message: 'Resource not accessible by integration' })
      .post('/repos/acme/widgets/pulls', (body: typeof sent) => ((sent = body), true))
      .reply(201, { html_url: 'https://github.com/acme/widgets/pull/12', number: 12 });

    const id = await chatUntilIdle('add file a');
    const branch = `telecoder/${id}`;

    const first = await call('POST', `/api/sessions/${id}/pr`);
    expect(first.status).toBe(500);
    expect(first.body.error).toMatch(/403|not accessible/);
    expect(first.body.error).toMatch(/ask for it again/);
    // The push happened before GitHub refused the pull request.
    const pushed = git(bare, 'rev-parse', branch);
    expect(started!.app.store.getSession(id)!.prNumber).toBeNull();

    const retried = await call('POST', `/api/sessions/${id}/pr`);
    expect(retried.status).toBe(201);
    expect(retried.body).toMatchObject({ url: 'https://github.com/acme/widgets/pull/12', number: 12, branch, draft: true, held_back: ['.github/workflows/ci.yml'] });
    expect(retried.body.warning).toMatch(/held back and not pushed; the pull request body shows them/);
    expect(sent).toMatchObject({ head: branch, draft: true });
    expect(sent.body).toContain('## ⚠️ Held back: CI workflow changes');
    expect(sent.body).toContain('echo $SECRET');
    expect(sent.body).toContain('> add file a');
    // The same commit, holding the source change and not the workflow.
    expect(git(bare, 'rev-parse', branch)).toBe(pushed);
    expect(git(bare, 'show', `${branch}:a.txt`)).toBe('first');
    expect(git(bare, 'ls-tree', '--name-only', branch, '.github/workflows/ci.yml')).toBe('');
    expect(started!.app.store.getSession(id)).toMatchObject({ prNumber: 12, status: 'idle' });

    // Now there is nothing left to do.
    const again = await call('POST', `/api/sessions/${id}/pr`);
    expect(again.status).toBe(409);
    expect(again.body.error).toMatch(/nothing new to commit/);
  });

  it('a /pr whose push failed is retried: the commit made the first time is pushed and the pull request opens', async () => {
    let receivePacks = 0;
    const bare = await startWith([writeFile('a.txt', 'first\n'), finish('Added a.txt.')], {
      // The git host fails the first push, as a host having a bad minute does.
      intercept: (request) => (request.advertised === 'git-receive-pack' && receivePacks++ === 0 ? { status: 503, message: 'try again later' } : undefined),
    });
    github.scope
      .get('/repos/acme/widgets')
      .times(3)
      .reply(200, REPO)
      .post('/repos/acme/widgets/pulls', (body: { head: string }) => body.head.startsWith('telecoder/'))
      .reply(201, { html_url: 'https://github.com/acme/widgets/pull/13', number: 13 });

    const id = await chatUntilIdle('add file a');
    const branch = `telecoder/${id}`;
    const first = await call('POST', `/api/sessions/${id}/pr`);
    expect(first.status).toBe(500);
    expect(first.body.error).toMatch(/could not push/);
    expect(git(bare, 'branch', '--list', branch)).toBe('');

    const retried = await call('POST', `/api/sessions/${id}/pr`);
    expect(retried.status).toBe(201);
    expect(retried.body).toEqual({ url: 'https://github.com/acme/widgets/pull/13', number: 13, branch });
    expect(git(bare, 'show', `${branch}:a.txt`)).toBe('first');
    expect(git(bare, 'rev-parse', `${branch}~1`)).toBe(git(bare, 'rev-parse', 'main'));
    expect(receivePacks).toBe(2);
  });

  it('stop during a /pr push waits for it: the branch and the pull request are whole, and the clone stays until the push is done', async () => {
    const gate = pushGate();
    const bare = await startWith([writeFile('a.txt', 'first\n'), finish('Added a.txt.')], { intercept: gate.intercept });
    github.scope
      .get('/repos/acme/widgets')
      .times(2)
      .reply(200, REPO)
      .post('/repos/acme/widgets/pulls')
      .reply(201, { html_url: 'https://github.com/acme/widgets/pull/14', number: 14 });

    const id = await chatUntilIdle('add file a');
    const clone = join(started!.dataDir, 'workspaces', id);
    const pr = call('POST', `/api/sessions/${id}/pr`);
    await gate.arrived;
    const stop = call('POST', `/api/sessions/${id}/stop`);
    // The push is held: stop waits, and the clone git pushes from is still there.
    expect(await settledWithin(stop, 1_500)).toBe(false);
    expect(existsSync(clone)).toBe(true);
    // Meanwhile the chat takes nothing more.
    const late = await call('POST', `/api/sessions/${id}/messages`, { content: 'one more thing' });
    expect(late.status).toBe(409);
    expect(late.body.error).toMatch(/is ending/);
    gate.open();

    const delivered = await pr;
    expect(delivered.status).toBe(201);
    expect(delivered.body).toMatchObject({ url: 'https://github.com/acme/widgets/pull/14', number: 14 });
    const stopped = await stop;
    expect(stopped.status).toBe(200);
    expect(stopped.body).toMatchObject({ status: 'stopped', pr_number: 14 });
    expect(git(bare, 'show', `telecoder/${id}:a.txt`)).toBe('first');
    expect(existsSync(clone)).toBe(false);
  });

  it('shutdown during a /pr push waits for it, and the idle reaper passes a chat that is delivering', async () => {
    const gate = pushGate();
    const bare = await startWith([writeFile('a.txt', 'first\n'), finish('Added a.txt.')], {
      intercept: gate.intercept,
      app: { env: { TELECODER_CHAT_IDLE_TIMEOUT: '1s' }, customize: (builder) => builder.withChatReapInterval(200) },
    });
    github.scope
      .get('/repos/acme/widgets')
      .times(2)
      .reply(200, REPO)
      .post('/repos/acme/widgets/pulls')
      .reply(201, { html_url: 'https://github.com/acme/widgets/pull/15', number: 15 });

    const id = await chatUntilIdle('add file a');
    const clone = join(started!.dataDir, 'workspaces', id);
    const pr = call('POST', `/api/sessions/${id}/pr`);
    await gate.arrived;
    // Idle for well past its timeout while the push is held: the reaper must leave it alone.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(started!.app.store.getSession(id)!.status).toBe('idle');
    expect(existsSync(clone)).toBe(true);

    const closing = started!.app.engine.close();
    expect(await settledWithin(closing, 1_500)).toBe(false);
    expect(existsSync(clone)).toBe(true);
    gate.open();

    const delivered = await pr;
    expect(delivered.status).toBe(201);
    expect(delivered.body).toMatchObject({ number: 15 });
    await closing;
    expect(git(bare, 'show', `telecoder/${id}:a.txt`)).toBe('first');
    expect(started!.app.store.getSession(id)).toMatchObject({ status: 'error', prNumber: 15 });
    expect(started!.app.store.getSession(id)!.error).toMatch(/server shut down/);
    expect(existsSync(clone)).toBe(false);
  });
});
