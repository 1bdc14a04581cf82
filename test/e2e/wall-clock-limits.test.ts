/**
 * The sandbox's wall-clock limit (TELECODER_SANDBOX_TIMEOUT) is "enforced twice: the container's
 * own `sleep` ends it even if the server dies; the server kills it too". Each half is tested with
 * the other one out of the way, and with the per-command limit (TELECODER_COMMAND_TIMEOUT) far
 * larger, so nothing but the half under test can end the sandbox. The per-command limit alone,
 * with a large wall clock, is tested in session-faults.test.ts ("a command that never ends").
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { freePort } from '../../src/server/free-port.js';
import { useAppHarness } from '../helpers/app-harness.js';
import { containersOf, removeSessionContainers } from '../helpers/docker-leftovers.js';
import { testEnv, waitForFinal } from '../helpers/test-app.js';
import { transpileSources } from '../helpers/transpile-sources.js';

const docker = new Dockerode();
const runForever = { toolCalls: [{ name: 'run_command', arguments: { command: 'sleep 600' } }] };

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('the wall-clock limit, each of its two enforcements alone', () => {
  const harness = useAppHarness('wall-clock');
  // Runs before the harness stops the app (after-hooks run last registered first).
  afterEach(() => {
    vi.restoreAllMocks();
  });
  /** Whatever its containers, no session of the test may outlive it, even when it fails. */
  const removeAfterTest = (id: string) => harness.onCleanup(() => removeSessionContainers(id));

  it("the server's own timer ends the session at TELECODER_SANDBOX_TIMEOUT when the container's sleep is an hour (command limit 10m)", async () => {
    const repo = harness.localRepo({ 'README.md': '# Project\n' });
    // The container's own backstop is pushed an hour away: only the server can end it in time.
    const commands: string[][] = [];
    const createContainer = Dockerode.prototype.createContainer;
    vi.spyOn(Dockerode.prototype, 'createContainer').mockImplementation(function (this: Dockerode, options: Dockerode.ContainerCreateOptions) {
      const cmd = options.Cmd ?? [];
      const asked = cmd[0] === 'sleep' ? { ...options, Cmd: ['sleep', '3600'] } : options;
      commands.push(asked.Cmd ?? []);
      return createContainer.call(this, asked);
    } as typeof createContainer);
    const started = await harness.start({ script: [runForever], env: { TELECODER_SANDBOX_TIMEOUT: '6s', TELECODER_COMMAND_TIMEOUT: '10m' } });
    const created = await fetch(`${started.url}/api/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ repo, prompt: 'wait for a long time' }),
    });
    const { id } = (await created.json()) as { id: string };
    removeAfterTest(id);
    const began = Date.now();
    const session = await waitForFinal(started.app, id, 45_000);
    const tookMs = Date.now() - began;

    expect(commands).toContainEqual(['sleep', '3600']);
    expect(session.status).toBe('error');
    expect(session.error).toMatch(/wall-clock limit of 6 s and was killed; raise TELECODER_SANDBOX_TIMEOUT/);
    // Within the wall clock plus the time to start, not the command's 10 minutes or the sleep's hour.
    expect(tookMs).toBeGreaterThanOrEqual(5_000);
    expect(tookMs).toBeLessThan(40_000);
    expect(harness.llm.requests).toHaveLength(1);
    expect(containersOf(id)).toEqual([]);
  });

  it("the container's own sleep ends the sandbox at TELECODER_SANDBOX_TIMEOUT after the server was killed with SIGKILL (command limit 10m)", async () => {
    const repo = harness.localRepo({ 'README.md': '# Project\n' });
    const llm = await harness.startLLM([runForever]);
    // The server runs in a process of its own (built from src/ as it is now), so it can die for real.
    const build = transpileSources(join(harness.dir(), 'build'));
    const port = await freePort('127.0.0.1');
    const env = {
      ...process.env,
      ...testEnv({ image: harness.image, llmUrl: llm.url, provider: 'anthropic', dataDir: join(harness.dir(), 'data') }),
      TELECODER_ADDR: `127.0.0.1:${port}`,
      TELECODER_SANDBOX_TIMEOUT: '8s',
      TELECODER_COMMAND_TIMEOUT: '10m',
      TELECODER_DEPENDENCY_CACHE: 'false',
      LOG_LEVEL: 'warn' as const,
    };
    const server = spawn(process.execPath, [build.cli, 'serve'], { env, stdio: 'ignore' });
    try {
      const url = `http://127.0.0.1:${port}`;
      await waitFor('the server to listen', () => fetch(`${url}/health`).then((r) => (r.ok ? true : undefined), () => undefined), 60_000);
      const created = await fetch(`${url}/api/sessions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ repo, prompt: 'wait for a long time' }),
      });
      const { id } = (await created.json()) as { id: string };
      removeAfterTest(id);
      // The agent is in its endless command: the sandbox is up and nothing else will end it.
      await waitFor('the command to be running', () => (llm.requests.length > 0 ? true : undefined), 60_000);
      const [container] = containersOf(id);
      expect(container).toBeDefined();
      server.kill('SIGKILL');
      await new Promise((resolve) => server.once('exit', resolve));

      const state = await waitFor(
        'the container to stop on its own',
        async () => {
          const info = await docker.getContainer(container!).inspect();
          return info.State.Running ? undefined : info.State;
        },
        40_000,
      );
      // `sleep` ran out (exit 0): not killed by anyone, and not removed (no server is left to do it).
      expect(state.ExitCode).toBe(0);
      expect(state.OOMKilled).toBe(false);
      const ranMs = Date.parse(state.FinishedAt) - Date.parse(state.StartedAt);
      expect(ranMs).toBeGreaterThanOrEqual(7_500);
      expect(ranMs).toBeLessThan(15_000);
    } finally {
      server.kill('SIGKILL');
    }
    // A server in a child process, an 8 s wall clock, and the wait for it: more than the default.
  }, 120_000);
});
