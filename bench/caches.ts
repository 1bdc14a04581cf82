/**
 * `npm run bench` (third part): what the per-repository caches buy, measured against floors in the
 * same run. The application runs for real (HTTP API, Docker sandboxes, TELECODER_EGRESS,
 * default registries, so setup reaches the npm registry through the egress proxy) with a scripted LLM on loopback that makes
 * one cheap tool call and finishes; `owner/name` repositories are cloned over git's smart HTTP
 * protocol from a loopback server (test/helpers/git-http-server.ts), with a loopback stand-in for
 * GitHub's REST API.
 *
 *   (a) POST /api/sessions → the agent's first tool call, for
 *       - acme/tiny (two files), sessions after the first on one running server;
 *       - acme/big (bench/generate-big-repo.ts: 20,000 files, ~200 MB of history), first session
 *         on an empty data dir (the clone crosses the network), and
 *       - acme/big again on the same data dir (the mirror holds it: almost nothing crosses);
 *       floors: container create+start plus a clone from a local path of the same repository:
 *       `git clone --depth 1 --no-local file://…` (the tip through git's transport, as a network
 *       clone gets it, minus the network) for tiny and the first session, a plain local
 *       `git clone PATH` (hard links plus a checkout, as a clone from a mirror on the same disk)
 *       for the second.
 *   (b) `npm ci` of bench/generate-npm-project.ts's project (~50 packages) in the `setup` stage:
 *       first session (fresh data dir: empty cache volume) and second session (cached), from the
 *       `setup` events' durationMs; floors, in a plain container of the same image with network:
 *       `npm ci` on an empty cache, and `npm ci --offline` on a warm one.
 *
 * BENCH_CACHE_ROUNDS (default 3): rounds of tiny and of each second session; BENCH_CACHE_FIRST_ROUNDS
 * (default 1): first sessions, each on a fresh data dir. Medians. Containers and volumes made here
 * are labelled telecoder.bench=1 and removed, as are the cache volumes the application made.
 *
 * Before each timed part that follows the deletion of many files (a session's clone and sandbox
 * are deleted when it ends), the run waits BENCH_SETTLE_S (default 75 s; 0: no wait): on ext4
 * without a journal, as on this benchmark's usual VM, creating files stays ~30× slower for about
 * a minute after many were deleted, which would charge one session's clean-up to the next. Each
 * wait ends with a probe (µs to create a file, under the temporary directory), printed with the
 * figures.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import tarFs from 'tar-fs';
import { loadConfig } from '../src/config/config.js';
import { createLogger } from '../src/logger.js';
import { parseStageNames } from '../src/pipeline/stage-names.js';
import { TeleCoderBuilder, type TeleCoder } from '../src/telecoder.js';
import { startGitHttpServer, type GitHttpServer, type GitHttpStats } from '../test/helpers/git-http-server.js';
import { ensureTestImage } from '../test/helpers/sandbox-image.js';
import { startScriptedLLM, type RecordedRequest, type ScriptedLLM, type ScriptedResponse } from '../test/helpers/scripted-llm-server.js';
import { fileCreateMicros, formatBytes, gitAsync, median, removeInstanceVolumes } from './bench-cache.js';
import { startFakeGitHubApi } from './fake-github-api.js';
import { describeRepo, ensureBigRepo, ensureTinyRepo } from './generate-big-repo.js';
import { describeNpmProject, ensureNpmProject } from './generate-npm-project.js';

const ROUNDS = positive('BENCH_CACHE_ROUNDS', 3);
const FIRST_ROUNDS = positive('BENCH_CACHE_FIRST_ROUNDS', 1);
const SETTLE_MS = Number(process.env.BENCH_SETTLE_S ?? 75) * 1000;
const EGRESS = process.env.TELECODER_EGRESS?.trim() || 'registries';
/** The floors' plain containers reach the registry directly, as Docker gives them. */
const FLOOR_NETWORK = 'bridge';
/** A session on the big repository may take minutes before the caches exist; never forever. */
const SESSION_TIMEOUT_MS = 20 * 60_000;
const RUN_LABEL = `${process.pid}-${randomBytes(4).toString('hex')}`;
const BENCH_LABELS = { 'telecoder.bench': '1', 'telecoder.bench.run': RUN_LABEL };
/** The sandbox image sends npm's cache into the per-repository volume; the floor does the same. */
const CACHE_MOUNT = '/home/sandbox/.cache';
const NPM_CACHE_ENV = `npm_config_cache=${CACHE_MOUNT}/npm`;

const benchStarted = performance.now();

/** A progress line on stderr (the figures go to stdout). */
function progress(text: string): void {
  process.stderr.write(`[caches ${((performance.now() - benchStarted) / 1000).toFixed(0).padStart(4)} s] ${text}\n`);
}

function positive(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a whole number ≥ 1 (got "${process.env[name]}")`);
  return value;
}

interface SetupFigure {
  status: string;
  durationMs?: number;
  commands?: Array<{ command: string; exitCode: number | null; durationMs: number }>;
}

interface SessionFigures {
  toFirstTool: number;
  /** From POST to the "Fetched …", "Cloned …" and "Sandbox ready …" output events, when they came. */
  toFetched?: number;
  toCloned?: number;
  toSandboxReady?: number;
  /** The final `setup` event, when there was one. */
  setup?: SetupFigure;
  git: GitHttpStats;
}

interface BenchContext {
  image: string;
  stages: string;
  llm: ScriptedLLM;
  githubApiUrl: string;
  git: GitHttpServer;
}

/** One cheap tool call, then finish: the conversation decides which, so sessions may interleave freely. */
function agentTurn(request: RecordedRequest): ScriptedResponse {
  const answered = JSON.stringify(request.body?.messages ?? []).includes('"tool_result"');
  return answered
    ? { toolCalls: [{ name: 'finish', arguments: { summary: 'nothing to change' } }] }
    : { toolCalls: [{ name: 'run_command', arguments: { command: 'true' } }] };
}

/** TELECODER_STAGES for the sessions: setup,code once the setup stage exists, else code alone. */
function chooseStages(): { stages: string; note?: string } {
  if (typeof parseStageNames('setup,code') !== 'string') return { stages: 'setup,code' };
  return {
    stages: 'code',
    note: 'this version has no `setup` stage (TELECODER_STAGES refuses it): sessions run `code` alone, so (b) has no session figures',
  };
}

class AppUnderTest {
  readonly dataDir = mkdtempSync(join(tmpdir(), 'telecoder-bench-caches-'));
  app!: TeleCoder;

  async start(context: BenchContext): Promise<this> {
    const config = loadConfig({
      TELECODER_DATA_DIR: this.dataDir,
      TELECODER_ADDR: '127.0.0.1:0',
      TELECODER_DOCKER_IMAGE: context.image,
      TELECODER_EGRESS: EGRESS,
      TELECODER_LLM_PROVIDER: 'anthropic',
      ANTHROPIC_API_KEY: 'bench',
      ANTHROPIC_BASE_URL: context.llm.url,
      TELECODER_MODEL: 'scripted-model',
      TELECODER_STAGES: context.stages,
      GITHUB_TOKEN: 'ghp_bench',
      GITHUB_API_URL: context.githubApiUrl,
      TELECODER_GIT_URL: context.git.url,
      TELECODER_MAX_CONCURRENT: '1',
      // What the caches save, measured as the figures were first taken: each sandbox started for its
      // session (the warm pool's own gain is bench/run.ts's row (a)).
      TELECODER_WARM_SANDBOXES: '0',
    });
    this.app = new TeleCoderBuilder()
      .withConfig(config)
      .withLogger(createLogger(process.env.BENCH_LOG_LEVEL ?? 'silent'))
      .build();
    await this.app.start();
    return this;
  }

  /**
   * Waits (at most 60 s) until the session's clone and sandbox are gone: they are removed after
   * `done`, and the next timed part must not run alongside, nor settle before, their removal.
   */
  async #released(docker: Dockerode, sessionId: string): Promise<void> {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const containers = await docker.listContainers({ all: true, filters: { label: [`telecoder.session=${sessionId}`] } });
      if (containers.length === 0 && !existsSync(join(this.dataDir, 'workspaces', sessionId))) return;
      await new Promise((resolveWait) => setTimeout(resolveWait, 200));
    }
  }

  /** One session on `repo`: POST → first tool event, the final setup event, what git served. */
  async session(repo: string, git: GitHttpServer, docker: Dockerode): Promise<SessionFigures> {
    const events: Array<{ at: number; sessionId: string; type: string; data: unknown }> = [];
    let sessionId: string | undefined;
    let finished!: () => void;
    const done = new Promise<void>((resolveDone) => (finished = resolveDone));
    const unsubscribe = this.app.bus.subscribeAll((event) => {
      events.push({ at: performance.now(), sessionId: event.sessionId, type: event.type, data: event.data });
      if (event.type === 'done' && event.sessionId === sessionId) finished();
    });
    git.reset();
    let timer: NodeJS.Timeout | undefined;
    try {
      const posted = performance.now();
      const response = await fetch(`${this.app.url}/api/sessions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ repo, prompt: 'benchmark task' }),
      });
      if (response.status !== 201) throw new Error(`POST /api/sessions answered ${response.status}: ${await response.text()}`);
      const { id } = (await response.json()) as { id: string };
      sessionId = id;
      if (events.some((event) => event.type === 'done' && event.sessionId === id)) finished();
      await Promise.race([
        done,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`session on ${repo} not done after ${SESSION_TIMEOUT_MS / 60_000} min`)), SESSION_TIMEOUT_MS);
        }),
      ]);
      await this.#released(docker, id);
      const session = this.app.store.getSession(id)!;
      if (session.status !== 'complete') throw new Error(`bench session on ${repo} ended ${session.status}: ${session.error}`);
      const mine = events.filter((event) => event.sessionId === id);
      const firstTool = mine.find((event) => event.type === 'tool');
      if (!firstTool) throw new Error(`bench session on ${repo} made no tool call`);
      const setup = mine.filter((event) => event.type === 'setup' && (event.data as SetupFigure)?.status !== 'running').at(-1);
      const figures: SessionFigures = { toFirstTool: firstTool.at - posted, git: git.stats() };
      if (setup) figures.setup = setup.data as SetupFigure;
      const outputAt = (prefix: string) => mine.find((event) => event.type === 'output' && String(event.data).startsWith(prefix))?.at;
      const fetched = outputAt('Fetched');
      const cloned = outputAt('Cloned');
      if (fetched !== undefined) figures.toFetched = fetched - posted;
      const ready = outputAt('Sandbox ready');
      if (cloned !== undefined) figures.toCloned = cloned - posted;
      if (ready !== undefined) figures.toSandboxReady = ready - posted;
      progress(
        `${repo}: ${phases(figures)}, upload-pack ${formatBytes(figures.git.uploadPackBytes)}` +
          (figures.setup ? `, setup ${figures.setup.status} ${figures.setup.durationMs ?? '?'} ms` : ''),
      );
      if (figures.setup?.status === 'failed') {
        const output = mine.filter((event) => event.type === 'output').map((event) => String(event.data)).slice(-8);
        console.warn(`  note: setup failed in a session on ${repo}:\n    ${output.join('\n    ')}`);
      }
      return figures;
    } finally {
      clearTimeout(timer);
      unsubscribe();
    }
  }

  async stop(docker: Dockerode): Promise<void> {
    // Mirrors, cache volumes and workspace snapshot images of this data dir.
    await this.app?.engine.pruneCaches().catch(() => undefined);
    const instanceId = this.app?.store.instanceId();
    await this.app?.stop();
    // The cache volumes the application made for this data dir (it keeps them on purpose).
    if (instanceId) await removeInstanceVolumes(docker, instanceId);
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- floors

async function drain(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  // The multiplexed stream's 8-byte frame headers stay in; this text is only for error messages.
  return Buffer.concat(chunks).toString('utf8');
}

async function exec(
  container: Dockerode.Container,
  command: string,
  options: { user?: string; cwd?: string } = {},
): Promise<{ exitCode: number; ms: number; output: string }> {
  const started = performance.now();
  const handle = await container.exec({
    Cmd: ['bash', '-c', command],
    AttachStdout: true,
    AttachStderr: true,
    ...(options.user ? { User: options.user } : {}),
    ...(options.cwd ? { WorkingDir: options.cwd } : {}),
  });
  const stream = await handle.start({});
  const output = await drain(stream);
  const { ExitCode } = await handle.inspect();
  return { exitCode: ExitCode ?? -1, ms: performance.now() - started, output };
}

async function createStartFloor(docker: Dockerode, image: string): Promise<number[]> {
  const times: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const started = performance.now();
    const container = await docker.createContainer({
      Image: image,
      Cmd: ['sleep', '60'],
      User: '1000:1000',
      HostConfig: { NetworkMode: FLOOR_NETWORK, Init: true, CapDrop: ['ALL'], SecurityOpt: ['no-new-privileges:true'] },
      Labels: BENCH_LABELS,
    });
    await container.start();
    times.push(performance.now() - started);
    await container.remove({ force: true });
  }
  return times;
}

/**
 * Times `git clone ARGS <dir>` into fresh directories under `parent`, which the caller removes
 * at the very end: removing a 20,000-file clone between rounds, or before a session, would slow
 * the file creation that follows (see fileCreateMicros).
 */
async function cloneFloor(parent: string, args: string[], rounds = ROUNDS): Promise<number[]> {
  const times: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const dir = mkdtempSync(join(parent, 'clone-'));
    const started = performance.now();
    await gitAsync(parent, ['clone', '--quiet', ...args, join(dir, 'clone')]);
    times.push(performance.now() - started);
  }
  return times;
}

interface NpmFloor {
  cold: number;
  offline: number[];
}

/**
 * A plain container of the sandbox image with network and a fresh volume at the cache mount:
 * `npm ci` once on the empty cache (timed: the cold floor), then `npm ci --offline` from the
 * warm cache, each round in a fresh copy of the project.
 */
async function npmFloor(docker: Dockerode, image: string, filesDir: string): Promise<NpmFloor> {
  const volumeName = `telecoder-bench-npm-${RUN_LABEL}`;
  await docker.createVolume({ Name: volumeName, Labels: BENCH_LABELS });
  let container: Dockerode.Container | undefined;
  try {
    container = await docker.createContainer({
      Image: image,
      Cmd: ['sleep', '3600'],
      User: '1000:1000',
      Env: [`HOME=/home/sandbox`, NPM_CACHE_ENV],
      Labels: BENCH_LABELS,
      HostConfig: {
        NetworkMode: FLOOR_NETWORK,
        Init: true,
        Mounts: [{ Type: 'volume', Source: volumeName, Target: CACHE_MOUNT, ReadOnly: false }],
      },
    });
    await container.start();
    const dirs = Array.from({ length: ROUNDS + 1 }, (_, round) => `/workspace/app-${round}`);
    const prepared = await exec(container, `mkdir -p ${CACHE_MOUNT} ${dirs.join(' ')} && chown -R 1000:1000 ${CACHE_MOUNT} /workspace`, { user: '0' });
    if (prepared.exitCode !== 0) throw new Error(`npm floor: preparing the container failed: ${prepared.output}`);
    // A fresh copy of the project per round: removing node_modules between rounds would slow the
    // next round's file creation down (see fileCreateMicros).
    for (const dir of dirs) {
      await container.putArchive(
        tarFs.pack(filesDir, { map: (header) => ({ ...header, uid: 1000, gid: 1000, uname: '', gname: '' }) }) as unknown as NodeJS.ReadableStream,
        { path: dir },
      );
    }
    const flags = '--no-audit --no-fund';
    await settle('npm floor');
    const cold = await exec(container, `npm ci --prefer-offline ${flags}`, { cwd: dirs[0] });
    if (cold.exitCode !== 0) throw new Error(`npm floor: npm ci failed (${cold.exitCode}): ${cold.output.slice(-2000)}`);
    const offline: number[] = [];
    for (const dir of dirs.slice(1)) {
      const run = await exec(container, `npm ci --offline ${flags}`, { cwd: dir });
      if (run.exitCode !== 0) throw new Error(`npm floor: npm ci --offline failed (${run.exitCode}): ${run.output.slice(-2000)}`);
      offline.push(run.ms);
    }
    const test = await exec(container, 'npm test --silent', { cwd: dirs[0] });
    if (test.exitCode !== 0) throw new Error(`npm floor: npm test failed after npm ci: ${test.output.slice(-2000)}`);
    return { cold: cold.ms, offline };
  } finally {
    await container?.remove({ force: true }).catch(() => undefined);
    await docker.getVolume(volumeName).remove().catch(() => undefined);
  }
}

/** Whatever this run labelled and left behind (an interrupted floor). */
async function removeBenchLeftovers(docker: Dockerode): Promise<void> {
  const label = [`telecoder.bench.run=${RUN_LABEL}`];
  const containers = await docker.listContainers({ all: true, filters: { label } });
  for (const info of containers) await docker.getContainer(info.Id).remove({ force: true }).catch(() => undefined);
  const volumes = await docker.listVolumes({ filters: { label } });
  for (const volume of volumes.Volumes ?? []) await docker.getVolume(volume.Name).remove().catch(() => undefined);
}

// ---------------------------------------------------------------- report

function ms(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(1).padStart(9)} ms` : '      n/a   ';
}

function row(name: string, valueMs: number, floorName: string, floorMs: number): string {
  const ratio = Number.isFinite(valueMs) && Number.isFinite(floorMs) ? `ratio ${(valueMs / floorMs).toFixed(2)}×` : 'ratio n/a';
  return `${name.padEnd(50)} ${ms(valueMs)}   ${floorName.padEnd(44)} ${ms(floorMs)}   ${ratio}`;
}

/**
 * "fetched 300 → sandbox ready 900 → first tool call 1000 ms (cloned 1200)" (times since the POST;
 * the server's clone runs beside the rest and may finish after the agent started).
 */
function phases(figures: SessionFigures): string {
  const parts: string[] = [];
  if (figures.toFetched !== undefined) parts.push(`fetched ${figures.toFetched.toFixed(0)}`);
  if (figures.toSandboxReady !== undefined) parts.push(`sandbox ready ${figures.toSandboxReady.toFixed(0)}`);
  parts.push(`first tool call ${figures.toFirstTool.toFixed(0)} ms`);
  return parts.join(' → ') + (figures.toCloned !== undefined ? ` (cloned ${figures.toCloned.toFixed(0)})` : '');
}

function setupMs(figures: SessionFigures[]): number {
  const values = figures.map((figure) => figure.setup?.durationMs).filter((value): value is number => typeof value === 'number');
  return values.length > 0 ? median(values) : Number.NaN;
}

function npmCiMs(figures: SessionFigures[]): number {
  const values = figures
    .map((figure) => figure.setup?.commands?.find((command) => /\bnpm ci\b/.test(command.command))?.durationMs)
    .filter((value): value is number => typeof value === 'number');
  return values.length > 0 ? median(values) : Number.NaN;
}

// ---------------------------------------------------------------- settling

/** Every wait for the file system, for the report: what it was for and the probe after it. */
const settles: Array<{ what: string; micros: number; waitedMs: number }> = [];
/** The probes' files stay until the end (deleting them would slow the next probe down). */
const probesDir = mkdtempSync(join(tmpdir(), 'telecoder-bench-probes-'));

/** Waits SETTLE_MS for recent deletions to age out (see fileCreateMicros), then probes. */
async function settle(what: string): Promise<number> {
  const started = performance.now();
  if (SETTLE_MS > 0) await new Promise((resolveWait) => setTimeout(resolveWait, SETTLE_MS));
  const micros = fileCreateMicros(probesDir);
  const waitedMs = performance.now() - started;
  settles.push({ what, micros, waitedMs });
  progress(`before ${what}: waited ${(waitedMs / 1000).toFixed(0)} s, file create ${micros.toFixed(0)} µs`);
  return micros;
}

function settleSummary(what: string): string {
  const mine = settles.filter((entry) => entry.what === what);
  if (mine.length === 0) return '';
  return `${mine.map((entry) => entry.micros.toFixed(0)).join('/')} µs`;
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const generation = performance.now();
  const [tiny, big, npmProject] = [await ensureTinyRepo(), await ensureBigRepo(), await ensureNpmProject()];
  console.log(`Bench repositories (${((performance.now() - generation) / 1000).toFixed(1)} s to find or make):`);
  console.log(`  ${describeRepo('acme/tiny', tiny)}`);
  console.log(`  ${describeRepo('acme/big', big)}`);
  console.log(`  ${describeNpmProject(npmProject)} (acme/app)`);

  const image = await ensureTestImage();
  const docker = new Dockerode();
  const { stages, note } = chooseStages();
  // The git server's root: owner/name.git links to the cached bare repositories (read-only serving).
  const root = mkdtempSync(join(tmpdir(), 'telecoder-bench-git-root-'));
  mkdirSync(join(root, 'acme'));
  symlinkSync(tiny.path, join(root, 'acme', 'tiny.git'));
  symlinkSync(big.path, join(root, 'acme', 'big.git'));
  symlinkSync(npmProject.path, join(root, 'acme', 'app.git'));
  const git = await startGitHttpServer({ root, receivePack: false });
  const github = await startFakeGitHubApi();
  const llm = await startScriptedLLM(Array.from({ length: 10_000 }, () => agentTurn));
  const context: BenchContext = { image, stages, llm, githubApiUrl: github.url, git };
  const apps: AppUnderTest[] = [];
  const startApp = async () => {
    const app = new AppUnderTest();
    apps.push(app);
    return app.start(context);
  };
  const stopApp = async (app: AppUnderTest) => {
    apps.splice(apps.indexOf(app), 1);
    await app.stop(docker);
  };
  const floorsDir = mkdtempSync(join(tmpdir(), 'telecoder-bench-floors-'));
  const cleanUp = async () => {
    for (const app of [...apps]) await stopApp(app).catch(() => undefined);
    await llm.close();
    await github.close();
    await git.close();
    rmSync(root, { recursive: true, force: true });
    rmSync(floorsDir, { recursive: true, force: true });
    await removeBenchLeftovers(docker).catch(() => undefined);
    rmSync(probesDir, { recursive: true, force: true });
  };
  // Interrupted (Ctrl-C): remove the data dirs, sandboxes and volumes all the same.
  const onSignal = (signal: NodeJS.Signals) => {
    progress(`${signal}: cleaning up`);
    void cleanUp().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    // ---- (a) time to the first tool call: tiny (a session writes two files: no settling)
    // One running server, as the big second sessions get: the first session is the warm-up (first
    // container start, module loads, the mirror made); the timed ones find the mirror, the egress
    // proxy and a spare sandbox network ready.
    const tinySessions: SessionFigures[] = [];
    {
      const app = await startApp();
      await app.session('acme/tiny', git, docker);
      for (let round = 0; round < ROUNDS; round++) tinySessions.push(await app.session('acme/tiny', git, docker));
      await stopApp(app);
    }

    // ---- floors of (a), before any big session has deleted a big tree
    progress('floors: container create+start, clones');
    const createStart = median(await createStartFloor(docker, image));
    const tinyClone = median(await cloneFloor(floorsDir, ['--depth', '1', '--no-local', '--no-tags', '--single-branch', '--branch', 'main', `file://${tiny.path}`]));
    settles.push({ what: 'clone floors', micros: fileCreateMicros(probesDir), waitedMs: 0 });
    const bigShallow = median(await cloneFloor(floorsDir, ['--depth', '1', '--no-local', '--no-tags', '--single-branch', '--branch', 'main', `file://${big.path}`]));
    const bigLocal = median(await cloneFloor(floorsDir, ['--no-tags', '--single-branch', '--branch', 'main', big.path]));
    // For context, one round each: what the same clones cost over the smart HTTP server.
    git.reset();
    const httpShallow = median(await cloneFloor(floorsDir, ['--depth', '1', '--no-tags', '--single-branch', '--branch', 'main', `${git.url}/acme/big.git`], 1));
    const httpShallowBytes = git.stats().uploadPackBytes;
    git.reset();
    const httpFull = median(await cloneFloor(floorsDir, ['--mirror', `${git.url}/acme/big.git`], 1));
    const httpFullBytes = git.stats().uploadPackBytes;
    // The floors' clones (~160,000 files) stay until the end: deleting them now would slow the
    // sessions' file creation down for minutes (see fileCreateMicros).

    // ---- (a) big: first session on an empty data dir, then second sessions on the same one
    const bigFirst: SessionFigures[] = [];
    const bigSecond: SessionFigures[] = [];
    for (let round = 0; round < FIRST_ROUNDS; round++) {
      const app = await startApp();
      await settle('big first');
      bigFirst.push(await app.session('acme/big', git, docker));
      if (round === 0) {
        for (let again = 0; again < ROUNDS; again++) {
          await settle('big second');
          bigSecond.push(await app.session('acme/big', git, docker));
        }
      }
      await stopApp(app);
    }

    // ---- (b) npm ci in the setup stage, first session vs second
    const npmFirst: SessionFigures[] = [];
    const npmSecond: SessionFigures[] = [];
    if (stages.includes('setup')) {
      for (let round = 0; round < FIRST_ROUNDS; round++) {
        const app = await startApp();
        await settle('npm first');
        npmFirst.push(await app.session('acme/app', git, docker));
        if (round === 0) {
          for (let again = 0; again < ROUNDS; again++) {
            await settle('npm second');
            npmSecond.push(await app.session('acme/app', git, docker));
          }
        }
        await stopApp(app);
      }
    }
    progress('floor: npm ci in a plain container');
    const npm = await npmFloor(docker, image, npmProject.filesDir);

    // ---- report
    const firstToolMs = (figures: SessionFigures[]) => median(figures.map((figure) => figure.toFirstTool));
    const uploadBytes = (figures: SessionFigures[]) => median(figures.map((figure) => figure.git.uploadPackBytes));
    console.log('');
    console.log(
      `TeleCoder cache benchmark — medians (tiny and second sessions: ${ROUNDS} rounds; first sessions: ${FIRST_ROUNDS}), ` +
        `scripted LLM on loopback, TELECODER_STAGES=${stages}, egress ${EGRESS}, Node ${process.version}`,
    );
    if (note) console.log(`note: ${note}`);
    console.log(row('(a) tiny: POST → first tool call', firstToolMs(tinySessions), 'create+start + clone --depth 1 --no-local', createStart + tinyClone));
    console.log(row('(a) big, first session (network clone)', firstToolMs(bigFirst), 'create+start + clone --depth 1 --no-local', createStart + bigShallow));
    console.log(row('(a) big, second session (mirror)', firstToolMs(bigSecond), 'create+start + local clone PATH', createStart + bigLocal));
    console.log(
      `    floors' parts: container create+start ${createStart.toFixed(1)} ms; big: clone --depth 1 --no-local file:// ${bigShallow.toFixed(1)} ms, ` +
        `local clone PATH (hard links + checkout) ${bigLocal.toFixed(1)} ms; tiny: clone --depth 1 --no-local ${tinyClone.toFixed(1)} ms`,
    );
    console.log(
      `    git upload-pack bytes served per session: tiny ${formatBytes(uploadBytes(tinySessions))}, big first ${formatBytes(uploadBytes(bigFirst))}, ` +
        `big second ${formatBytes(uploadBytes(bigSecond))} (each second session: ${bigSecond.map((figure) => formatBytes(figure.git.uploadPackBytes)).join(', ')})`,
    );
    console.log(`    each big session, since the POST: first ${bigFirst.map(phases).join('; ')}`);
    console.log(`                                      second ${bigSecond.map(phases).join('; ')}`);
    console.log(
      `    for context, over the same HTTP server: git clone --depth 1 ${httpShallow.toFixed(1)} ms (${formatBytes(httpShallowBytes)}), ` +
        `git clone --mirror ${httpFull.toFixed(1)} ms (${formatBytes(httpFullBytes)})`,
    );
    const first = setupMs(npmFirst);
    const second = setupMs(npmSecond);
    console.log(row(`(b) npm ci (${npmProject.packages} packages), first session`, first, 'npm ci, empty cache (plain container)', npm.cold));
    console.log(row('(b) npm ci, second session (cache volume)', second, 'npm ci --offline, warm cache', median(npm.offline)));
    const floorSpeedup = npm.cold / median(npm.offline);
    if (stages.includes('setup')) {
      const speedup = first / second;
      console.log(
        `    setup stage durationMs (npm ci alone: first ${npmCiMs(npmFirst).toFixed(1)} ms, second ${npmCiMs(npmSecond).toFixed(1)} ms); ` +
          `second session ${Number.isFinite(speedup) ? `${speedup.toFixed(2)}×` : 'n/a'} faster than the first — target ≥ 3×: ` +
          `${Number.isFinite(speedup) ? (speedup >= 3 ? 'met' : 'NOT met') : 'n/a'}; the floor's own warm/cold: ${floorSpeedup.toFixed(2)}×`,
      );
      const statuses = [...npmFirst, ...npmSecond].map((figure) => figure.setup?.status ?? 'no setup event');
      if (statuses.some((status) => status !== 'passed')) console.log(`    setup outcomes: ${statuses.join(', ')}`);
    } else {
      console.log(`    the floor's own warm/cold: ${floorSpeedup.toFixed(2)}×`);
    }
    const waits = ['clone floors', 'big first', 'big second', 'npm first', 'npm second', 'npm floor']
      .map((what) => {
        const summary = settleSummary(what);
        return summary ? `${what}: ${summary}` : '';
      })
      .filter(Boolean);
    console.log(
      `    file creation after waiting ${SETTLE_MS / 1000} s for earlier deletions to age out (~25 µs when settled, ~600 µs when not): ${waits.join('; ')}`,
    );
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanUp();
  }
}

main()
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => rmSync(probesDir, { recursive: true, force: true }));
