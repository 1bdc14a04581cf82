import { execFileSync, spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useAppHarness } from '../helpers/app-harness.js';
import { git } from '../helpers/git-fixtures.js';
import { setupGitHubMock } from '../helpers/github-mock.js';
import { type ScriptStep } from '../helpers/scripted-llm-server.js';
import { callApi } from '../helpers/session-api.js';
import { freePort } from '../../src/server/free-port.js';
import { testEnv, waitForFinal, type TestAppOptions } from '../helpers/test-app.js';

const finish = (summary: string) => ({ toolCalls: [{ name: 'finish', arguments: { summary } }] });
const writeFile = (path: string, content: string) => ({ toolCalls: [{ name: 'write_file', arguments: { path, content } }] });

function containersOf(sessionId: string): string {
  return execFileSync('docker', ['ps', '-aq', '--filter', `label=telecoder.session=${sessionId}`], { encoding: 'utf8' }).trim();
}

describe('chat mode: one sandbox for a whole conversation, a pull request when asked', () => {
  const github = setupGitHubMock();
  const harness = useAppHarness('chat');

  async function startWith(script: ScriptStep[], options: Partial<TestAppOptions> = {}) {
    return harness.start({ script, ...options });
  }

  const call = (method: 'GET' | 'POST', path: string, body?: unknown) => callApi(harness.url, method, path, body);

  async function createChat(repo: string, prompt: string): Promise<string> {
    const created = await call('POST', '/api/sessions', { repo, prompt, mode: 'chat' });
    expect(created.status).toBe(201);
    expect(created.body.mode).toBe('chat');
    expect(created.body.branch).toBe(`telecoder/${created.body.id}`);
    return created.body.id as string;
  }

  /** Polls the store until the chat is idle again; fails at once if it ended instead. */
  async function waitForIdle(id: string, timeoutMs = 90_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const session = harness.app.store.getSession(id)!;
      if (session.status === 'idle') return session;
      if (['complete', 'error', 'stopped'].includes(session.status)) {
        throw new Error(`chat ${id} ended ${session.status}: ${session.error}`);
      }
      if (Date.now() > deadline) throw new Error(`chat ${id} still ${session.status} after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  it('a local chat: messages share the sandbox and the conversation, busy and limit are refused, /pr commits to telecoder/<id>, stop ends it', async () => {
    await startWith(
      [
        writeFile('notes.txt', 'remember-42\n'),
        finish('Wrote notes.txt.'),
        { toolCalls: [{ name: 'run_command', arguments: { command: 'cat notes.txt' } }] },
        finish('notes.txt says remember-42.'),
      ],
      { env: { TELECODER_CHAT_MAX_MESSAGES: '2' } },
    );
    const repo = harness.localRepo({ 'README.md': '# Project\n' });
    const id = await createChat(repo, 'write a note');

    const first = await waitForIdle(id);
    expect(first.usage.turns).toBe(2);
    // Before any /pr, the diff is read in the chat's own sandbox.
    const live = await fetch(`${harness.url}/api/sessions/${id}/diff`);
    expect(live.status).toBe(200);
    expect(live.headers.get('content-type')).toMatch(/^text\/x-diff/);
    const liveDiff = await live.text();
    expect(liveDiff).toContain('+++ b/notes.txt');
    expect(liveDiff).toContain('+remember-42');
    let messages = await call('GET', `/api/sessions/${id}/messages`);
    expect(messages.status).toBe(200);
    expect(messages.body.map((m: any) => [m.role, m.content])).toEqual([
      ['user', 'write a note'],
      ['assistant', 'Wrote notes.txt.'],
    ]);
    const outputs = harness.app.store.listEvents(id).filter((e) => e.type === 'output').map((e) => e.data);
    expect(outputs).toContain('Wrote notes.txt.');
    const container = containersOf(id);
    expect(container).not.toBe('');

    const sent = await call('POST', `/api/sessions/${id}/messages`, { content: 'what does the note say?' });
    expect(sent.status).toBe(202);
    expect(sent.body).toMatchObject({ session_id: id, role: 'user', content: 'what does the note say?' });
    // Queued or running: the next message and a pull request must wait.
    const busy = await call('POST', `/api/sessions/${id}/messages`, { content: 'and another thing' });
    expect(busy.status).toBe(409);
    expect(busy.body.error).toMatch(/wait for the current message to finish/);
    const busyPr = await call('POST', `/api/sessions/${id}/pr`);
    expect(busyPr.status).toBe(409);

    const second = await waitForIdle(id);
    expect(second.usage.turns).toBe(4);
    // The same container served both messages, and the file the first one wrote was still there.
    expect(containersOf(id)).toBe(container);
    expect(JSON.stringify(harness.llm.requests[3]!.body)).toContain('remember-42');
    // The second message's prompt carried the conversation so far, labelled.
    const secondPrompt = JSON.stringify(harness.llm.requests[2]!.body.messages[0]);
    expect(secondPrompt).toContain('write a note');
    expect(secondPrompt).toContain('Wrote notes.txt.');
    expect(secondPrompt).toContain('what does the note say?');
    expect(secondPrompt).toMatch(/User/);
    expect(secondPrompt).toMatch(/Assistant/);
    messages = await call('GET', `/api/sessions/${id}/messages`);
    expect(messages.body.map((m: any) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
    expect(messages.body[3].content).toBe('notes.txt says remember-42.');

    const limited = await call('POST', `/api/sessions/${id}/messages`, { content: 'one more' });
    expect(limited.status).toBe(409);
    expect(limited.body.error).toMatch(/limit of 2 messages/);
    expect(limited.body.error).toMatch(/TELECODER_CHAT_MAX_MESSAGES/);

    const pr = await call('POST', `/api/sessions/${id}/pr`);
    expect(pr.status).toBe(201);
    expect(pr.body).toEqual({ url: null, number: null, branch: `telecoder/${id}` });
    expect(git(repo, 'show', `telecoder/${id}:notes.txt`)).toBe('remember-42');
    expect(git(repo, 'log', '-1', '--format=%s', `telecoder/${id}`)).toBe('telecoder: write a note');
    expect(git(repo, 'status', '--porcelain')).toBe('');
    expect(harness.app.store.getSession(id)!.status).toBe('idle');

    const again = await call('POST', `/api/sessions/${id}/pr`);
    expect(again.status).toBe(409);
    expect(again.body.error).toMatch(/nothing to commit/);

    const stopped = await call('POST', `/api/sessions/${id}/stop`);
    expect(stopped.status).toBe(200);
    expect(stopped.body.status).toBe('stopped');
    expect(containersOf(id)).toBe('');
    expect(harness.app.store.listEvents(id).at(-1)!.type).toBe('done');
    // The sandbox is gone; what /pr delivered was kept.
    const kept = await fetch(`${harness.url}/api/sessions/${id}/diff`);
    expect(kept.status).toBe(200);
    expect(await kept.text()).toContain('+remember-42');
    const ended = await call('POST', `/api/sessions/${id}/messages`, { content: 'hello?' });
    expect(ended.status).toBe(409);
    expect(ended.body.error).toMatch(/has ended/);
  });

  it('/pr with no changes answers 409, and a task session refuses messages and /pr', async () => {
    await startWith([finish('Nothing to change.'), finish('A task answer.')]);
    const repo = harness.localRepo({ 'README.md': '# Project\n' });
    const id = await createChat(repo, 'just look');
    await waitForIdle(id);
    const pr = await call('POST', `/api/sessions/${id}/pr`);
    expect(pr.status).toBe(409);
    expect(pr.body.error).toMatch(/nothing to commit/);
    expect(git(repo, 'branch', '--list', `telecoder/${id}`)).toBe('');

    const task = await call('POST', '/api/sessions', { repo, prompt: 'a task' });
    await waitForFinal(harness.app, task.body.id);
    expect((await call('POST', `/api/sessions/${task.body.id}/messages`, { content: 'hi' })).status).toBe(409);
    expect((await call('POST', `/api/sessions/${task.body.id}/pr`)).status).toBe(409);
    const diff = await call('GET', `/api/sessions/${task.body.id}/diff`);
    expect(diff.status).toBe(409);
    expect(diff.body.error).toMatch(/has no diff to show: it changed nothing \(it answered with text\)/);
  });

  it('GitHub: the first /pr opens a pull request quoting the conversation, a later one pushes a fast-forward to it and opens none', async () => {
    const remotes = join(harness.dir(), 'remotes');
    await startWith(
      [writeFile('a.txt', 'first\n'), finish('Added a.txt for @octocat.'), writeFile('b.txt', 'second\n'), finish('Added b.txt.')],
      { gitUrl: `file://${remotes}` },
    );
    const { bare } = harness.remote({ 'README.md': '# Widgets\n' });
    let prBody = '';
    github.scope
      .get('/repos/acme/widgets')
      .times(3)
      .reply(200, { default_branch: 'main', html_url: 'https://github.com/acme/widgets' })
      .post('/repos/acme/widgets/pulls', (body: { head: string; base: string; title: string; body: string }) => {
        prBody = body.body;
        return body.base === 'main' && body.head.startsWith('telecoder/') && body.title === 'telecoder: add file a';
      })
      .reply(201, { html_url: 'https://github.com/acme/widgets/pull/9', number: 9 });

    {
      const id = await createChat('acme/widgets', 'add file a');
      await waitForIdle(id);
      const branch = `telecoder/${id}`;

      const pr = await call('POST', `/api/sessions/${id}/pr`);
      expect(pr.status).toBe(201);
      expect(pr.body).toEqual({ url: 'https://github.com/acme/widgets/pull/9', number: 9, branch });
      const firstCommit = git(bare, 'rev-parse', branch);
      expect(git(bare, 'rev-parse', `${branch}~1`)).toBe(git(bare, 'rev-parse', 'main'));
      expect(prBody).toContain('> add file a');
      expect(prBody).toContain('> Added a.txt for @\u200boctocat.');
      expect(prBody).toContain(id);
      expect(prBody).toMatch(/tokens/);
      const stored = harness.app.store.getSession(id)!;
      expect(stored.prUrl).toBe('https://github.com/acme/widgets/pull/9');
      expect(stored.prNumber).toBe(9);

      expect((await call('POST', `/api/sessions/${id}/messages`, { content: 'now add file b' })).status).toBe(202);
      await waitForIdle(id);
      const second = await call('POST', `/api/sessions/${id}/pr`);
      expect(second.status).toBe(201);
      expect(second.body).toEqual({ url: 'https://github.com/acme/widgets/pull/9', number: 9, branch });
      // A fast-forward: the new commit sits on the first one and holds both files.
      expect(git(bare, 'rev-parse', `${branch}~1`)).toBe(firstCommit);
      expect(git(bare, 'show', `${branch}:a.txt`)).toBe('first');
      expect(git(bare, 'show', `${branch}:b.txt`)).toBe('second');
    }
  });

  it('an idle chat is reaped: it completes and its container is removed', async () => {
    await startWith([finish('Hello.')], {
      env: { TELECODER_CHAT_IDLE_TIMEOUT: '1s' },
      customize: (builder) => builder.withChatReapInterval(200),
    });
    const repo = harness.localRepo({ 'README.md': '# Project\n' });
    const id = await createChat(repo, 'say hello');
    const session = await waitForFinal(harness.app, id, 60_000);
    expect(session.status).toBe('complete');
    expect(session.result).toEqual({ type: 'text', content: 'chat closed after 1s idle' });
    expect(containersOf(id)).toBe('');
    expect(harness.app.store.listMessages(id).map((m) => m.role)).toEqual(['user', 'assistant']);
  });

  it('an LLM 500 during a message is told as an error and the chat goes on', async () => {
    const fault = { status: 500, headers: { 'retry-after-ms': '10' }, body: { error: { type: 'api_error', message: 'upstream exploded' } } };
    await startWith([fault, fault, fault, finish('Recovered.')]);
    const repo = harness.localRepo({ 'README.md': '# Project\n' });
    const id = await createChat(repo, 'try this');
    await waitForIdle(id);
    const events = harness.app.store.listEvents(id);
    expect(events.some((e) => e.type === 'error' && String(e.data).includes('500'))).toBe(true);
    let messages = harness.app.store.listMessages(id);
    expect(messages.map((m) => m.role)).toEqual(['user', 'assistant']);
    expect(messages[1]!.content).toMatch(/^Error: .*500/);
    expect(containersOf(id)).not.toBe('');

    expect((await call('POST', `/api/sessions/${id}/messages`, { content: 'try again' })).status).toBe(202);
    const session = await waitForIdle(id);
    expect(session.error).toBeNull();
    messages = harness.app.store.listMessages(id);
    expect(messages.at(-1)).toMatchObject({ role: 'assistant', content: 'Recovered.' });
  });

  it('a server shutdown ends an open chat as interrupted and removes its container', async () => {
    await startWith([finish('Hello.')]);
    const repo = harness.localRepo({ 'README.md': '# Project\n' });
    const id = await createChat(repo, 'say hello');
    await waitForIdle(id);
    expect(containersOf(id)).not.toBe('');
    const dataDir = harness.started.dataDir;
    await harness.stop({ keepData: true });
    const started = await harness.start({ dataDir });
    const session = started.app.store.getSession(id)!;
    expect(session.status).toBe('error');
    expect(session.error).toMatch(/^interrupted: the TeleCoder server shut down/);
    expect(containersOf(id)).toBe('');
  });

  it('a server killed with an idle chat: after restart the chat ends as interrupted and its container is gone', async () => {
    await startWith([finish('Hello.')]);
    const repo = harness.localRepo({ 'README.md': '# Project\n' });
    const dataDir = join(harness.dir(), 'data');
    const port = await freePort('127.0.0.1');
    const env = {
      ...process.env,
      ...testEnv({ image: harness.image, llmUrl: harness.llm.url, provider: 'anthropic', dataDir }),
      TELECODER_ADDR: `127.0.0.1:${port}`,
      LOG_LEVEL: 'warn' as const,
    };
    const child = spawn(process.execPath, [resolve('bin/telecoder.js'), 'serve'], { env, stdio: 'ignore' });
    try {
      const url = `http://127.0.0.1:${port}`;
      const deadline = Date.now() + 30_000;
      while (!(await fetch(`${url}/health`).then((r) => r.ok, () => false))) {
        if (Date.now() > deadline) throw new Error('the server did not start');
        await new Promise((r) => setTimeout(r, 200));
      }
      const created = await fetch(`${url}/api/sessions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ repo, prompt: 'say hello', mode: 'chat' }),
      });
      const { id } = (await created.json()) as { id: string };
      for (;;) {
        const session = (await (await fetch(`${url}/api/sessions/${id}`)).json()) as { status: string };
        if (session.status === 'idle') break;
        if (Date.now() > deadline + 60_000) throw new Error(`chat still ${session.status}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(containersOf(id)).not.toBe('');
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));

      await harness.stop();
      const started = await harness.start({ dataDir });
      const session = started.app.store.getSession(id)!;
      expect(session.status).toBe('error');
      expect(session.error).toBe(
        "interrupted: the TeleCoder server restarted and this chat's sandbox is gone; start a new chat",
      );
      expect(containersOf(id)).toBe('');
    } finally {
      child.kill('SIGKILL');
    }
  });
});
