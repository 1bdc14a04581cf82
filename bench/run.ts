/**
 * `npm run bench`: what TeleCoder adds on top of Docker, measured against the Docker floor in the
 * same run. A scripted LLM on loopback answers at once, so the times are TeleCoder's own.
 *
 *   (a) POST /api/sessions → the agent's first tool call, with the warm pool (TELECODER_WARM_SANDBOXES=1)
 *       and without it; each server runs one session first (its mirror, its pool's repository)
 *   (b) one sandboxed tool-call round trip (LLM answer → tool run in the sandbox → next LLM request)
 *   (c) a whole small session (POST → done) minus the time the LLM took
 *   floor: container create+start; one `docker exec`
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { median } from './bench-cache.js';
import { loadConfig } from '../src/config/config.js';
import type { LLMClient } from '../src/llm/client.js';
import { createLLMClient } from '../src/llm/create-llm-client.js';
import { createLogger } from '../src/logger.js';
import { TeleCoderBuilder } from '../src/telecoder.js';
import { makeRepo } from '../test/helpers/git-fixtures.js';
import { DockerRuntime } from '../src/sandbox/docker/docker-runtime.js';
import { SANDBOX_CONTEXT_DIR, TEST_BASE_IMAGE, ensureTestImage } from '../test/helpers/sandbox-image.js';
import { startScriptedLLM, type ScriptStep } from '../test/helpers/scripted-llm-server.js';
import { removeInstanceVolumes } from './bench-cache.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const TOOL_CALLS_PER_SESSION = 5;


async function dockerFloor(image: string): Promise<{ createStart: number[]; exec: number[] }> {
  const docker = new Dockerode();
  const createStart: number[] = [];
  const exec: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const started = performance.now();
    const container = await docker.createContainer({
      Image: image,
      Cmd: ['sleep', '60'],
      User: '1000:1000',
      HostConfig: { NetworkMode: 'none', Init: true, CapDrop: ['ALL'], SecurityOpt: ['no-new-privileges:true'] },
      Labels: { 'telecoder.bench': '1' },
    });
    await container.start();
    createStart.push(performance.now() - started);
    for (let i = 0; i < TOOL_CALLS_PER_SESSION; i++) {
      const execStarted = performance.now();
      const handle = await container.exec({ Cmd: ['bash', '-c', 'true'], AttachStdout: true, AttachStderr: true });
      const stream = await handle.start({});
      await new Promise<void>((resolve, reject) => {
        stream.on('end', resolve);
        stream.on('error', reject);
        stream.resume();
      });
      await handle.inspect();
      exec.push(performance.now() - execStarted);
    }
    await container.remove({ force: true });
  }
  return { createStart, exec };
}

interface SessionTimes {
  toFirstTool: number;
  toolRoundTrips: number[];
  wholeMinusLlm: number;
}

/** One server, with or without its warm pool, running benchmark sessions one after another. */
interface BenchServer {
  session(): Promise<SessionTimes>;
  close(): Promise<void>;
}

async function startBenchServer(image: string, repo: string, warmSandboxes: number, env: Record<string, string>): Promise<BenchServer> {
  const arrivals: number[] = [];
  const step = (reply: ScriptStep): ScriptStep => (request, index) => {
    arrivals.push(performance.now());
    return typeof reply === 'function' ? reply(request, index) : reply;
  };
  const oneSessionScript = (): ScriptStep[] => [
    ...Array.from({ length: TOOL_CALLS_PER_SESSION }, () => step({ toolCalls: [{ name: 'run_command', arguments: { command: 'true' } }] })),
    step({ toolCalls: [{ name: 'finish', arguments: { summary: 'nothing to change' } }] }),
  ];
  // The warm-up session and the measured ones.
  const llm = await startScriptedLLM(Array.from({ length: ROUNDS + 1 }, oneSessionScript).flat());
  const dataDir = mkdtempSync(join(tmpdir(), 'telecoder-bench-'));
  const config = loadConfig({
    TELECODER_DATA_DIR: dataDir,
    TELECODER_ADDR: '127.0.0.1:0',
    TELECODER_DOCKER_IMAGE: image,
    TELECODER_EGRESS: 'none',
    TELECODER_LLM_PROVIDER: 'anthropic',
    ANTHROPIC_API_KEY: 'bench',
    ANTHROPIC_BASE_URL: llm.url,
    TELECODER_MODEL: 'scripted-model',
    // The agent alone: what is measured is TeleCoder's overhead around the sandbox, not the stages.
    TELECODER_STAGES: 'code',
    TELECODER_WARM_SANDBOXES: String(warmSandboxes),
    ...env,
  });
  // LLM time as the agent sees it: every complete() call, SDK and loopback HTTP included.
  let llmTime = 0;
  const client = createLLMClient(config.llm);
  const timed: LLMClient = {
    provider: client.provider,
    model: client.model,
    async complete(request) {
      const started = performance.now();
      try {
        return await client.complete(request);
      } finally {
        llmTime += performance.now() - started;
      }
    },
  };
  const app = new TeleCoderBuilder().withConfig(config).withLLM(timed).withLogger(createLogger('silent')).build();
  await app.start();
  const runtime = app.runtime as DockerRuntime;

  const session = async (): Promise<SessionTimes> => {
    // A server between sessions: the pool has made its replacement, in the background.
    if (warmSandboxes > 0) await runtime.warmPoolSettled();
    llmTime = 0;
    const firstArrival = arrivals.length;
    const toolEvents: number[] = [];
    let finished!: () => void;
    const done = new Promise<void>((resolve) => (finished = resolve));
    const unsubscribe = app.bus.subscribeAll((event) => {
      if (event.type === 'tool') toolEvents.push(performance.now());
      if (event.type === 'done') finished();
    });
    const posted = performance.now();
    const response = await fetch(`${app.url}/api/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ repo, prompt: 'benchmark task' }),
    });
    if (response.status !== 201) throw new Error(`POST /api/sessions answered ${response.status}`);
    await done;
    const ended = performance.now();
    unsubscribe();
    const { id } = (await response.json()) as { id: string };
    const stored = app.store.getSession(id)!;
    if (stored.status !== 'complete') throw new Error(`bench session ended ${stored.status}: ${stored.error}`);
    const mine = arrivals.slice(firstArrival);
    // Each tool round trip: from the tool event (the LLM's answer arrived) to the next LLM request.
    const toolRoundTrips = toolEvents.slice(0, TOOL_CALLS_PER_SESSION).map((at, i) => mine[i + 1]! - at);
    return { toFirstTool: toolEvents[0]! - posted, toolRoundTrips, wholeMinusLlm: ended - posted - llmTime };
  };

  return {
    session,
    async close() {
      const instanceId = app.store.instanceId();
      await app.stop();
      await llm.close();
      // The repository's dependency-cache volume outlives the server by design; not this data dir's.
      await removeInstanceVolumes(new Dockerode(), instanceId);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The first session of each server warms its mirror and (with a pool) its repository's sandbox; the rest are measured. */
async function measuredSessions(image: string, repo: string, warmSandboxes: number, env: Record<string, string> = {}): Promise<SessionTimes[]> {
  const server = await startBenchServer(image, repo, warmSandboxes, env);
  try {
    await server.session();
    const sessions: SessionTimes[] = [];
    for (let round = 0; round < ROUNDS; round++) sessions.push(await server.session());
    return sessions;
  } finally {
    await server.close();
  }
}

function row(name: string, valueMs: number, floorName: string, floorMs: number, goal?: string): string {
  const line = `${name.padEnd(46)} ${valueMs.toFixed(1).padStart(8)} ms   ${floorName.padEnd(28)} ${floorMs.toFixed(1).padStart(8)} ms   ratio ${(valueMs / floorMs).toFixed(2)}×`;
  return goal ? `${line}   (goal ${goal})` : line;
}

/** One sandbox's exec(['true']) on its resident executor, alone: no agent, no LLM. */
async function executorCalls(image: string): Promise<number[]> {
  const runtime = new DockerRuntime({ image, baseImage: TEST_BASE_IMAGE, contextDir: SANDBOX_CONTEXT_DIR, instanceLabel: 'telecoder-bench-executor' });
  const sandbox = await runtime.create({
    sessionId: `bench-executor-${process.pid}`,
    network: 'none',
    limits: { memoryBytes: 512 * 1024 * 1024, cpus: 1, pids: 256, wallClockMs: 600_000 },
  });
  try {
    // The first call waits for the executor to start with the sandbox.
    await sandbox.exec(['true'], { timeoutMs: 10_000 });
    const times: number[] = [];
    for (let i = 0; i < ROUNDS * TOOL_CALLS_PER_SESSION; i++) {
      const started = performance.now();
      await sandbox.exec(['true'], { timeoutMs: 10_000 });
      times.push(performance.now() - started);
    }
    return times;
  } finally {
    await sandbox.destroy();
  }
}

async function main(): Promise<void> {
  const image = await ensureTestImage();
  const work = mkdtempSync(join(tmpdir(), 'telecoder-bench-repo-'));
  try {
    const repo = makeRepo(join(work, 'repo'), { 'README.md': '# bench\n', 'src/index.js': 'export {};\n' });
    const floor = await dockerFloor(image);
    const executor = await executorCalls(image);
    const cold = await measuredSessions(image, repo, 0);
    const sessions = await measuredSessions(image, repo, 1);
    // Every repository snapshotted: the pool's sandbox starts with the files in place (what a
    // repository of TELECODER_SNAPSHOT_MIN_FILES files or more gets), so nothing is copied at the claim.
    const snapshotted = await measuredSessions(image, repo, 1, { TELECODER_SNAPSHOT_MIN_FILES: '0' });

    const createStart = median(floor.createStart);
    const exec = median(floor.exec);
    console.log(`TeleCoder benchmark — median of ${ROUNDS} rounds, scripted LLM on loopback, Node ${process.version}`);
    console.log(row('(a) POST /api/sessions → first tool call', median(sessions.map((s) => s.toFirstTool)), 'container create+start', createStart, '≤ 0.5×'));
    console.log(row('    the same with no warm pool (cold start)', median(cold.map((s) => s.toFirstTool)), 'container create+start', createStart));
    console.log(row('    warm pool, workspace snapshot (no copy)', median(snapshotted.map((s) => s.toFirstTool)), 'container create+start', createStart, '≤ 0.5×'));
    console.log(row('(b) one sandboxed tool-call round trip', median(sessions.flatMap((s) => s.toolRoundTrips)), 'one docker exec', exec, '≤ 0.25×'));
    console.log(row("    of which sandbox.exec(['true']) alone", median(executor), 'one docker exec', exec));
    console.log(
      row(
        `(c) whole session (${TOOL_CALLS_PER_SESSION} tool calls) minus LLM time`,
        median(sessions.map((s) => s.wholeMinusLlm)),
        `create+start + ${TOOL_CALLS_PER_SESSION} execs`,
        createStart + TOOL_CALLS_PER_SESSION * exec,
      ),
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
