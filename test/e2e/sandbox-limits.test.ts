import Dockerode from 'dockerode';
import { describe, expect, it } from 'vitest';
import { useAppHarness } from '../helpers/app-harness.js';
import { type RecordedRequest, type ScriptedResponse } from '../helpers/scripted-llm-server.js';
import { textOf } from '../helpers/stage-router.js';
import { waitForFinal, type StartedTestApp } from '../helpers/test-app.js';

// RELIABILITY row 12: a fork bomb, memory over the limit, a disk fill and a wall-clock overrun,
// each in one session ("the victim") while another session of the same server ("the neighbour")
// is in the middle of a command. What must hold: the limit holds (pids capped, OOM recorded as the
// reason, killed at the disk or time limit) and the neighbour's command and session go on unharmed.
//
// Both sandboxes wait on marker files before and after the fault, which the test touches with
// `docker exec`, so the neighbour's command is provably running while the victim fails.

const docker = new Dockerode();
const VICTIM = 'VICTIM-TASK';
const NEIGHBOUR = 'NEIGHBOUR-TASK';

const run = (command: string, timeoutSeconds?: number): ScriptedResponse => ({
  toolCalls: [{ name: 'run_command', arguments: { command, ...(timeoutSeconds ? { timeout_seconds: timeoutSeconds } : {}) } }],
});
const finish = (summary: string): ScriptedResponse => ({ toolCalls: [{ name: 'finish', arguments: { summary } }] });

/** The victim's fault runs once the test touches /tmp/go; /tmp/waiting says it is ready. */
const victimFault = (fault: string, timeoutSeconds?: number) =>
  run(`touch /tmp/waiting; while [ ! -e /tmp/go ]; do sleep 0.2; done; ${fault}`, timeoutSeconds);

/** The neighbour: busy in a command across the victim's fault, then more work, then done. */
const neighbourScript = (extra = 'true'): ScriptedResponse[] => [
  run(`echo started > /workspace/neighbour.txt; ${extra}; while [ ! -e /tmp/release ]; do sleep 0.2; done; echo released`, 300),
  run('cat /workspace/neighbour.txt; echo alive'),
  finish('neighbour done'),
];

/** Answers each session from its own queue, told apart by the marker in its prompt. */
function bySession(queues: Record<typeof VICTIM | typeof NEIGHBOUR, ScriptedResponse[]>) {
  const seen: Record<string, RecordedRequest[]> = { [VICTIM]: [], [NEIGHBOUR]: [] };
  const step = (request: RecordedRequest): ScriptedResponse => {
    const text = textOf(request);
    const who = text.includes(VICTIM) ? VICTIM : text.includes(NEIGHBOUR) ? NEIGHBOUR : undefined;
    if (!who) return { status: 400, body: { error: { message: 'request from an unknown session' } } };
    seen[who]!.push(request);
    return queues[who].shift() ?? { status: 400, body: { error: { message: `no scripted answer left for ${who}` } } };
  };
  return { script: Array.from({ length: 50 }, () => step), seen };
}

/** The last tool result the model was sent, as text (what the agent saw of its last command). */
function lastToolResult(request: RecordedRequest): string {
  const messages = request.body.messages as Array<{ role: string; content: unknown }>;
  return JSON.stringify(messages.at(-1)?.content ?? '');
}

async function waitUntil(what: string, probe: () => Promise<boolean> | boolean, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function containerOf(sessionId: string): Promise<Dockerode.Container | undefined> {
  const [found] = await docker.listContainers({ all: true, filters: { label: [`telecoder.session=${sessionId}`] } });
  return found ? docker.getContainer(found.Id) : undefined;
}

/** Runs a shell command in a session's sandbox as the sandbox user; its exit code (undefined: no sandbox). */
async function inSandbox(sessionId: string, script: string): Promise<number | undefined> {
  const container = await containerOf(sessionId);
  if (!container) return undefined;
  try {
    const exec = await container.exec({ Cmd: ['sh', '-c', script], User: '1000:1000', AttachStdout: true, AttachStderr: true });
    const stream = await exec.start({ hijack: false, stdin: false });
    stream.resume();
    await new Promise((resolve) => stream.once('end', resolve));
    return (await exec.inspect()).ExitCode ?? undefined;
  } catch {
    return undefined;
  }
}

/** Processes in the container now, as the engine counts them for its pids limit. */
async function pidsOf(container: Dockerode.Container): Promise<number> {
  // `one-shot` skips the second sample the engine otherwise waits a second for; not in the types.
  const stats = container.stats.bind(container) as unknown as (options: { stream: false; 'one-shot': boolean }) => Promise<{
    pids_stats?: { current?: number };
  }>;
  return (await stats({ stream: false, 'one-shot': true })).pids_stats?.current ?? 0;
}

describe('a sandbox past its limit ends its own session; a session beside it is unharmed', () => {
  const harness = useAppHarness('limits');

  async function start(router: ReturnType<typeof bySession>, env: Record<string, string>) {
    const repo = harness.localRepo({ 'README.md': '# Project\n' });
    // Networking stays off (the test app's TELECODER_DOCKER_NETWORK=none); two sessions at once.
    const started = await harness.start({ script: router.script, env: { TELECODER_MAX_CONCURRENT: '2', ...env } });
    const app = started.app;
    const submit = async (prompt: string) => {
      const response = await fetch(`${started.url}/api/sessions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ repo, prompt }),
      });
      expect(response.status).toBe(201);
      return ((await response.json()) as { id: string }).id;
    };
    return { app, submit };
  }

  /** Starts both sessions and waits until each is inside its first command. */
  async function startBoth(submit: (prompt: string) => Promise<string>) {
    const victim = await submit(`${VICTIM}: misbehave`);
    const neighbour = await submit(`${NEIGHBOUR}: do honest work`);
    await waitUntil('the victim to wait for its cue', async () => (await inSandbox(victim, 'test -e /tmp/waiting')) === 0);
    await waitUntil('the neighbour to be in its command', async () => (await inSandbox(neighbour, 'test -e /workspace/neighbour.txt')) === 0);
    return { victim, neighbour };
  }

  /** The neighbour's command ran through the fault and its session completed with all its work. */
  async function expectNeighbourUnharmed(app: StartedTestApp['app'], neighbour: string, router: ReturnType<typeof bySession>) {
    expect(await inSandbox(neighbour, 'touch /tmp/release')).toBe(0);
    const session = await waitForFinal(app, neighbour, 120_000);
    expect(session.error).toBeNull();
    expect(session.status).toBe('complete');
    const [, afterWait, afterCat] = router.seen[NEIGHBOUR]!;
    expect(lastToolResult(afterWait!)).toMatch(/Exit code: 0.*released/s);
    expect(lastToolResult(afterCat!)).toMatch(/Exit code: 0.*started.*alive/s);
  }

  it('fork bomb: the victim never holds more than its pids limit, recovers, and the neighbour works on', async () => {
    const pids = 64;
    const router = bySession({
      [VICTIM]: [victimFault(':(){ :|:& };:; sleep 600', 25), run('ps -e --no-headers | wc -l'), finish('victim done')],
      [NEIGHBOUR]: neighbourScript(),
    });
    const { app, submit } = await start(router, { TELECODER_SANDBOX_PIDS: String(pids) });
    const { victim, neighbour } = await startBoth(submit);
    const victimContainer = (await containerOf(victim))!;

    expect(await inSandbox(victim, 'touch /tmp/go')).toBe(0);
    let most = 0;
    const sample = async () => {
      most = Math.max(most, await pidsOf(victimContainer));
      return most;
    };
    await waitUntil('the fork bomb to reach the pids limit', async () => (await sample()) >= pids - 2, 30_000);
    // The neighbour finishes its work while the bomb is at the limit.
    await expectNeighbourUnharmed(app, neighbour, router);
    await sample();
    expect(most).toBeLessThanOrEqual(pids);

    const session = await waitForFinal(app, victim, 120_000);
    expect(session.status).toBe('complete');
    // The bomb's command was killed at its timeout with every process it forked.
    const [, afterBomb, afterPs] = router.seen[VICTIM]!;
    expect(lastToolResult(afterBomb!)).toMatch(/timed out/);
    const count = /stdout:\\n(\d+)/.exec(lastToolResult(afterPs!))?.[1];
    expect(Number(count)).toBeLessThan(10);
  }, 240_000);

  it('memory over the limit: the victim ends with out of memory as its reason; the neighbour works on', async () => {
    const router = bySession({
      [VICTIM]: [victimFault('python3 -c "a = bytearray(1024 * 1024 * 1024)"'), finish('never reached')],
      [NEIGHBOUR]: neighbourScript(),
    });
    const { app, submit } = await start(router, { TELECODER_SANDBOX_MEMORY: '256mb' });
    const { victim, neighbour } = await startBoth(submit);

    expect(await inSandbox(victim, 'touch /tmp/go')).toBe(0);
    const session = await waitForFinal(app, victim, 120_000);
    expect(session.status).toBe('error');
    expect(session.error).toMatch(/out of memory \(limit 256 MiB\).*TELECODER_SANDBOX_MEMORY/);
    expect(await containerOf(victim)).toBeUndefined();

    await expectNeighbourUnharmed(app, neighbour, router);
  }, 240_000);

  it('disk fill: the victim is killed past the disk limit with "disk limit" as its reason; the neighbour works on', async () => {
    const router = bySession({
      [VICTIM]: [victimFault('fallocate -l 200M /tmp/fill; sleep 600', 300), finish('never reached')],
      // The neighbour writes too, under the limit.
      [NEIGHBOUR]: neighbourScript('fallocate -l 10M /tmp/under-the-limit'),
    });
    const { app, submit } = await start(router, { TELECODER_SANDBOX_DISK: '50mb' });
    const { victim, neighbour } = await startBoth(submit);

    expect(await inSandbox(victim, 'touch /tmp/go')).toBe(0);
    const session = await waitForFinal(app, victim, 120_000);
    expect(session.status).toBe('error');
    expect(session.error).toMatch(/disk limit of 50 MiB.*TELECODER_SANDBOX_DISK/);
    expect(await containerOf(victim)).toBeUndefined();

    await expectNeighbourUnharmed(app, neighbour, router);
  }, 240_000);

  it('wall-clock overrun: the victim is killed at its limit with that reason; the neighbour works on', async () => {
    const wallClockSeconds = 24;
    const router = bySession({
      [VICTIM]: [run('touch /tmp/waiting; sleep 600', 300), finish('never reached')],
      [NEIGHBOUR]: neighbourScript(),
    });
    const { app, submit } = await start(router, { TELECODER_SANDBOX_TIMEOUT: `${wallClockSeconds}s` });
    // The limit is the same for both: the neighbour starts later so that its own clock outlasts the victim's.
    const victim = await submit(`${VICTIM}: run forever`);
    await waitUntil('the victim to be in its command', async () => (await inSandbox(victim, 'test -e /tmp/waiting')) === 0);
    const startedAt = Date.parse((await (await containerOf(victim))!.inspect()).State.StartedAt);
    await new Promise((resolve) => setTimeout(resolve, (wallClockSeconds / 2) * 1000));
    const neighbour = await submit(`${NEIGHBOUR}: do honest work`);
    await waitUntil('the neighbour to be in its command', async () => (await inSandbox(neighbour, 'test -e /workspace/neighbour.txt')) === 0);

    const session = await waitForFinal(app, victim, 120_000);
    const endedAt = Date.now();
    expect(session.status).toBe('error');
    expect(session.error).toMatch(new RegExp(`wall-clock limit of ${wallClockSeconds} s.*TELECODER_SANDBOX_TIMEOUT`));
    // Killed at the limit: not before it, and not long after.
    expect(endedAt - startedAt).toBeGreaterThanOrEqual(wallClockSeconds * 1000 - 1_000);
    expect(endedAt - startedAt).toBeLessThan(wallClockSeconds * 1000 + 10_000);
    expect(await containerOf(victim)).toBeUndefined();

    await expectNeighbourUnharmed(app, neighbour, router);
  }, 240_000);
});
