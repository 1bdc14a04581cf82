import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useAppHarness } from '../helpers/app-harness.js';
import { git } from '../helpers/git-fixtures.js';
import { type GitHttpServerOptions } from '../helpers/git-http-server.js';
import { setupGitHubMock } from '../helpers/github-mock.js';
import { type ScriptStep } from '../helpers/scripted-llm-server.js';
import { callApi } from '../helpers/session-api.js';
import { type TestAppOptions } from '../helpers/test-app.js';

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
  const github = setupGitHubMock();
  const harness = useAppHarness('chat-delivery');

  /** acme/widgets behind a real git HTTP server (which `intercept` may hold or fail), and the app. */
  async function startWith(script: ScriptStep[], options: { intercept?: GitHttpServerOptions['intercept']; app?: Partial<TestAppOptions> } = {}) {
    const { bare, gitUrl } = await harness.remoteOverHttp({ 'README.md': '# Widgets\n' }, options.intercept ? { intercept: options.intercept } : {});
    await harness.start({ script, gitUrl, ...options.app });
    return bare;
  }

  const call = (method: 'GET' | 'POST', path: string, body?: unknown) => callApi(harness.url, method, path, body);

  async function chatUntilIdle(prompt: string): Promise<string> {
    const created = await call('POST', '/api/sessions', { repo: 'acme/widgets', prompt, mode: 'chat' });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const deadline = Date.now() + 90_000;
    for (;;) {
      const session = harness.app.store.getSession(id)!;
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
    expect(harness.app.store.getSession(id)!.prNumber).toBeNull();

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
    expect(harness.app.store.getSession(id)).toMatchObject({ prNumber: 12, status: 'idle' });

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
    const clone = join(harness.started.dataDir, 'workspaces', id);
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
    const clone = join(harness.started.dataDir, 'workspaces', id);
    const pr = call('POST', `/api/sessions/${id}/pr`);
    await gate.arrived;
    // Idle for well past its timeout while the push is held: the reaper must leave it alone.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(harness.app.store.getSession(id)!.status).toBe('idle');
    expect(existsSync(clone)).toBe(true);

    const closing = harness.app.engine.close();
    expect(await settledWithin(closing, 1_500)).toBe(false);
    expect(existsSync(clone)).toBe(true);
    gate.open();

    const delivered = await pr;
    expect(delivered.status).toBe(201);
    expect(delivered.body).toMatchObject({ number: 15 });
    await closing;
    expect(git(bare, 'show', `telecoder/${id}:a.txt`)).toBe('first');
    expect(harness.app.store.getSession(id)).toMatchObject({ status: 'error', prNumber: 15 });
    expect(harness.app.store.getSession(id)!.error).toMatch(/server shut down/);
    expect(existsSync(clone)).toBe(false);
  });
});
