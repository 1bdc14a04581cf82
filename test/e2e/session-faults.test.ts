import { execFileSync, spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import Dockerode from 'dockerode';
import { describe, expect, it } from 'vitest';
import { DockerRuntime } from '../../src/sandbox/docker/docker-runtime.js';
import { freePort } from '../../src/server/free-port.js';
import { useAppHarness } from '../helpers/app-harness.js';
import { SANDBOX_CONTEXT_DIR, TEST_BASE_IMAGE } from '../helpers/sandbox-image.js';
import { type ScriptStep } from '../helpers/scripted-llm-server.js';
import { testEnv, waitForFinal, type TestAppOptions } from '../helpers/test-app.js';

const finish = { toolCalls: [{ name: 'finish', arguments: { summary: 'done' } }] };

function containersOf(sessionId: string): string {
  return execFileSync('docker', ['ps', '-aq', '--filter', `label=telecoder.session=${sessionId}`], { encoding: 'utf8' }).trim();
}

async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function waitForAsync(what: string, probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('faults end a session honestly, with the reason', () => {
  const harness = useAppHarness('faults');
  let repo: string;

  async function startWith(script: ScriptStep[], options: Partial<TestAppOptions> = {}) {
    repo = harness.localRepo({ 'README.md': '# Project\n' });
    return harness.start({ script, ...options });
  }

  async function post(path: string, body: unknown, raw?: string) {
    const response = await fetch(`${harness.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: raw ?? JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  async function submit(prompt = 'do the thing') {
    const created = await post('/api/sessions', { repo, prompt });
    expect(created.status).toBe(201);
    return created.body.id as string;
  }

  it('bad input gets a clear 4xx and stores nothing', async () => {
    await startWith([]);
    const malformed = await post('/api/sessions', undefined, '{"repo": "acme/widgets",');
    expect(malformed.status).toBe(400);
    expect(String(malformed.body.error)).toMatch(/JSON/i);

    const badRepo = await post('/api/sessions', { repo: 'not a repo; rm -rf /', prompt: 'x' });
    expect(badRepo.status).toBe(400);
    expect(String(badRepo.body.error)).toMatch(/owner\/name/);

    const longPrompt = await post('/api/sessions', { repo, prompt: 'x'.repeat(10_001) });
    expect(longPrompt.status).toBe(400);
    expect(String(longPrompt.body.error)).toMatch(/10,?000/);

    const otherAgent = await post('/api/sessions', { repo, prompt: 'x', agent: 'aider' });
    expect(otherAgent.status).toBe(400);
    expect(String(otherAgent.body.error)).toMatch(/unknown agent "aider"/);

    // Codex speaks only OpenAI's API; this server holds an Anthropic key.
    const keyless = await post('/api/sessions', { repo, prompt: 'x', agent: 'codex' });
    expect(keyless.status).toBe(503);
    expect(String(keyless.body.error)).toMatch(/the codex agent needs OPENAI_API_KEY on the server \(it has a key for anthropic only\)/);

    const unknown = await fetch(`${harness.url}/api/sessions/doesnotexist`);
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: string }).error).toMatch(/doesnotexist/);

    expect(harness.app.store.listSessions()).toHaveLength(0);
  });

  it('LLM 429 is retried and the session completes', async () => {
    await startWith([{ status: 429, headers: { 'retry-after-ms': '10' }, body: { error: { type: 'rate_limit_error', message: 'slow down' } } }, finish]);
    const session = await waitForFinal(harness.app, await submit());
    expect(session.status).toBe('complete');
    expect(harness.llm.requests).toHaveLength(2);
  });

  it('LLM 500 past the retries fails the session with the status in the reason', async () => {
    const fault = { status: 500, headers: { 'retry-after-ms': '10' }, body: { error: { type: 'api_error', message: 'upstream exploded' } } };
    await startWith([fault, fault, fault, fault, fault]);
    const session = await waitForFinal(harness.app, await submit());
    expect(session.status).toBe('error');
    expect(session.error).toMatch(/500/);
    const events = harness.app.store.listEvents(session.id);
    expect(events.at(-1)!.type).toBe('done');
    expect(events.some((event) => event.type === 'error' && String(event.data).includes('500'))).toBe(true);
    expect(containersOf(session.id)).toBe('');
  });

  it('malformed tool arguments three times in a row fail the session with that reason', async () => {
    const broken = { toolCalls: [{ name: 'write_file', arguments: '{"path": "a.txt", "content": ' }] };
    await startWith([broken, broken, broken]);
    const session = await waitForFinal(harness.app, await submit());
    expect(session.status).toBe('error');
    expect(session.error).toMatch(/malformed/i);
  });

  // The per-command limit alone: the sandbox's wall clock is far away (that limit alone is in
  // wall-clock-limits.test.ts).
  it('a command that never ends is timed out and the agent goes on', async () => {
    await startWith(
      [{ toolCalls: [{ name: 'run_command', arguments: { command: 'sleep 600' } }] }, finish],
      { env: { TELECODER_COMMAND_TIMEOUT: '2s', TELECODER_SANDBOX_TIMEOUT: '10m' } },
    );
    const began = Date.now();
    const session = await waitForFinal(harness.app, await submit());
    expect(session.status).toBe('complete');
    expect(JSON.stringify(harness.llm.requests.at(-1)!.body)).toMatch(/timed out after 2s and was killed/);
    expect(Date.now() - began).toBeLessThan(40_000);
  });

  it('a container killed mid-task fails the session with a sandbox reason', async () => {
    await startWith([
      () => {
        const id = execFileSync('docker', ['ps', '-q', '--filter', 'label=telecoder.managed=true'], { encoding: 'utf8' }).trim().split('\n')[0]!;
        execFileSync('docker', ['kill', id]);
        return { toolCalls: [{ name: 'run_command', arguments: { command: 'echo still here' } }] };
      },
      finish,
    ]);
    const session = await waitForFinal(harness.app, await submit());
    expect(session.status).toBe('error');
    expect(session.error).toMatch(/sandbox/i);
    expect(containersOf(session.id)).toBe('');
  });

  // Unreachable when the request comes, it is refused with 503 (session-refusals.test.ts); this is
  // Docker going away between the request's check and the session's start.
  it('Docker unreachable once the session starts fails it with how to fix it, and the API keeps serving', async () => {
    const gone = new DockerRuntime({
      docker: new Dockerode({ socketPath: '/nonexistent/docker.sock' }),
      image: harness.image,
      baseImage: TEST_BASE_IMAGE,
      contextDir: SANDBOX_CONTEXT_DIR,
    });
    gone.ping = async () => undefined;
    await startWith([finish], { customize: (builder) => builder.withSandbox(gone) });
    const session = await waitForFinal(harness.app, await submit());
    expect(session.status).toBe('error');
    expect(session.error).toMatch(/docker/i);
    expect((await fetch(`${harness.url}/health`)).status).toBe(200);
  });

  it('stop during a run aborts the LLM call, removes the container and ends as stopped', async () => {
    await startWith([{ hang: true }]);
    const id = await submit();
    await waitFor('the LLM call to be in flight', () => harness.llm.requests.length > 0);
    expect(containersOf(id)).not.toBe('');
    // The call is held open by the LLM server: only the client hanging up can end it.
    const call = harness.llm.requests[0]!;
    expect(call.fate).toBe('open');
    const stopped = await post(`/api/sessions/${id}/stop`, {});
    expect(stopped.status).toBe(200);
    expect(stopped.body.status).toBe('stopped');
    expect(containersOf(id)).toBe('');
    const events = harness.app.store.listEvents(id);
    expect(events.at(-1)!.type).toBe('done');
    // The LLM server saw the client close the request before any answer: the call was aborted,
    // not left hanging behind a session that merely looks stopped.
    await waitFor('the LLM server to see the call closed', () => call.fate !== 'open', 10_000);
    expect(call.fate).toBe('closed-by-client');
    expect(harness.llm.requests).toHaveLength(1);
  });

  it('a server killed mid-run: after restart the running session is failed as interrupted, its container is gone, and the queued one runs', async () => {
    repo = harness.localRepo({ 'README.md': '# Project\n' });
    const llm = await harness.startLLM([{ hang: true }, finish]);
    const dataDir = join(harness.dir(), 'data');
    const port = await freePort('127.0.0.1');
    const env = {
      ...process.env,
      ...testEnv({ image: harness.image, llmUrl: llm.url, provider: 'anthropic', dataDir }),
      TELECODER_ADDR: `127.0.0.1:${port}`,
      TELECODER_MAX_CONCURRENT: '1',
      LOG_LEVEL: 'warn' as const,
    };
    const child = spawn(process.execPath, [resolve('bin/telecoder.js'), 'serve'], { env, stdio: 'ignore' });
    try {
      const url = `http://127.0.0.1:${port}`;
      await waitForAsync('the server to listen', () => fetch(`${url}/health`).then((r) => r.ok, () => false));
      const create = async (prompt: string) => {
        const created = await fetch(`${url}/api/sessions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ repo, prompt }),
        });
        return ((await created.json()) as { id: string }).id;
      };
      const running = await create('work forever');
      await waitFor('the LLM call to be in flight', () => harness.llm.requests.length > 0);
      const queued = await create('wait your turn');
      expect(containersOf(running)).not.toBe('');
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));

      const started = await harness.start({ dataDir });
      const interrupted = started.app.store.getSession(running)!;
      expect(interrupted.status).toBe('error');
      expect(interrupted.error).toMatch(/interrupted/);
      expect(containersOf(running)).toBe('');
      expect(started.app.store.listEvents(running).at(-1)!.type).toBe('done');
      const resumed = await waitForFinal(started.app, queued);
      expect(resumed.status).toBe('complete');
    } finally {
      child.kill('SIGKILL');
    }
  });
});
