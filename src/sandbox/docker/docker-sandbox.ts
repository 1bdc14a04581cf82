import { randomUUID } from 'node:crypto';
import { posix } from 'node:path';
import { Readable, Writable, type Duplex } from 'node:stream';
import type Dockerode from 'dockerode';
import type { Logger } from '../../logger.js';
import type { ExecOptions, ExecResult, ExecStream, LoopbackService, Sandbox, SandboxExit } from '../runtime.js';
import { execExitCode } from './exec-exit-code.js';
import { streamExecOutput } from './exec-stream.js';
import type { DiskUsageMeter } from './disk-usage.js';
import { DiskWatchdog } from './disk-watchdog.js';
import { execWithInput, type ExecWithInputResult } from './exec-with-input.js';
import { openLoopbackTunnel } from './loopback-tunnel.js';
import { ExecutorUnavailableError, SandboxExecutor, SandboxExecutorStoppedError, type ExecutorOutcome } from './sandbox-executor.js';
import { writeFileArgv } from './write-file-script.js';
import { prepend, readUpTo } from '../read-up-to.js';

export const SANDBOX_USER = '1000:1000';
export const SANDBOX_UID = 1000;
export const SANDBOX_GID = 1000;
export const WORKSPACE_DIR = '/workspace';

const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024;
/** How long past a command's own timeout the server waits before giving up on the stream. */
const SERVER_TIMEOUT_GRACE_MS = 5_000;
/** Exit code of GNU timeout, and what a timed-out exec reports. */
const TIMEOUT_EXIT_CODE = 124;
const SIGKILL_EXIT_CODE = 137;
/** Marks every process of one exec so they can be found and killed when the server gives up on it. */
const EXEC_ID_ENV = 'TELECODER_EXEC_ID';
/** One file write; the files the agent writes are source files, small next to this. */
const WRITE_TIMEOUT_MS = 60_000;
/** How long a kill by marker is waited for (its own exec gives up after 10 s), and how often it is looked at. */
const KILL_WAIT_MS = 11_000;
const KILL_POLL_MS = 25;

type StopReason = SandboxExit['reason'];

/** An exec that has started: what settleExec needs to read how it ended. */
interface StartedExec {
  exec: Dockerode.Exec;
  stream: Duplex;
  execId: string;
  timeoutSeconds: number;
  startedAt: number;
}

/** The sandbox is no longer running, so nothing more can be run in it. */
export class SandboxStoppedError extends Error {
  readonly reason: StopReason | undefined;
  constructor(sessionId: string, reason: StopReason | undefined, options?: { cause?: unknown }) {
    super(`The sandbox of session ${sessionId} has stopped (${describeReason(reason)}); start a new session to continue.`, options);
    this.name = 'SandboxStoppedError';
    this.reason = reason;
  }
}

function describeReason(reason: StopReason | undefined): string {
  switch (reason) {
    case 'oom':
      return 'it ran out of memory; raise the sandbox memory limit if the task needs more';
    case 'wall-clock':
      return 'it reached its wall-clock time limit';
    case 'disk':
      return 'it went past its disk limit; raise TELECODER_SANDBOX_DISK if the task needs more';
    case 'killed':
      return 'it was killed';
    case 'removed':
      return 'it was removed';
    case 'exited':
      return 'its main process exited';
    default:
      return 'reason unknown';
  }
}

/** How long a waiting sandbox gets to show it still answers (DockerSandbox.usable). */
const USABLE_CHECK_MS = 5_000;
/** Archives up to this size are extracted on the executor (held in memory once, on the server). */
const EXECUTOR_ARCHIVE_MAX_BYTES = 8 * 1024 * 1024;
const ARCHIVE_TIMEOUT_MS = 120_000;

/** What a failed write says: the writer's own message, or what to do when the writer is missing. */
function describeWriteFailure(target: string, result: ExecWithInputResult): string {
  const message = result.stderr.trim().split('\n').at(-1) ?? '';
  // 126/127: `timeout` could not run python3 (GNU timeout's codes for "cannot run" and "not found").
  if (result.exitCode === 126 || result.exitCode === 127) {
    return (
      `Could not write ${target}: the sandbox image has no usable python3, which TeleCoder runs as the sandbox user to ` +
      `write files (${message || `exit ${result.exitCode}`}); build the image from sandbox/Dockerfile or add python3 to it`
    );
  }
  if (result.timedOut || result.exitCode === undefined) return `Could not write ${target}: the sandbox did not finish the write in time`;
  return `Could not write ${target}: ${message || `the writer exited with ${result.exitCode}`}`;
}

function abortError(signal: AbortSignal): Error {
  const error = new Error('The command was aborted', { cause: signal.reason });
  error.name = 'AbortError';
  return error;
}

/** Removes a container; one already gone (404) or being removed by Docker (409) counts as removed. */
export async function forceRemove(container: Dockerode.Container): Promise<void> {
  try {
    await container.remove({ force: true });
  } catch (error) {
    const status = statusCodeOf(error);
    if (status !== 404 && status !== 409) throw error;
  }
}

export function statusCodeOf(error: unknown): number | undefined {
  const code = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

/** Keeps the first `limit` bytes written to it and counts the rest. */
class CappedCollector extends Writable {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  dropped = 0;
  constructor(private readonly limit: number) {
    super();
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    const room = this.limit - this.kept;
    if (room >= chunk.length) {
      this.chunks.push(chunk);
      this.kept += chunk.length;
    } else {
      if (room > 0) {
        this.chunks.push(chunk.subarray(0, room));
        this.kept += room;
      }
      this.dropped += chunk.length - Math.max(room, 0);
    }
    callback();
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

export interface DockerSandboxOptions {
  docker: Dockerode;
  container: Dockerode.Container;
  sessionId: string;
  wallClockMs: number;
  logger?: Logger;
  /** Called once the sandbox has stopped (the runtime forgets it). */
  onExit?: (exit: SandboxExit) => void;
  /** The container was made from a workspace snapshot holding the requested checkout. */
  workspacePrepared?: boolean;
  /** Kill the sandbox (reason `disk`) once the meter reads more than `limitBytes`. */
  disk?: { limitBytes: number; pollMs: number; meter: () => Promise<DiskUsageMeter> };
  /**
   * Run exec and writeFile through one resident executor per sandbox (see sandbox-executor.ts),
   * started with the sandbox, instead of one `docker exec` per call. An image without node falls
   * back to one `docker exec` per call (logged once). The runtime sets it; default off.
   */
  residentExecutor?: boolean;
}

/**
 * One sandbox container. Owns everything that watches it: the server-side wall-clock timer (the
 * container's own `sleep` is the backstop if the server dies), the OOM watch, the disk watchdog,
 * and `exited`.
 */
export class DockerSandbox implements Sandbox {
  readonly id: string;
  readonly workspace = WORKSPACE_DIR;
  private prepared: boolean;
  private preparedAhead = false;
  readonly exited: Promise<SandboxExit>;

  private readonly docker: Dockerode;
  private readonly container: Dockerode.Container;
  private readonly logger: Logger | undefined;
  private readonly wallClockMs: number;
  private stopReason: StopReason | undefined;
  private exit: SandboxExit | undefined;
  private wallClockTimer: NodeJS.Timeout | undefined;
  private oomEvents: Readable | undefined;
  private diskWatchdog: DiskWatchdog | undefined;
  private readonly disk: DockerSandboxOptions['disk'];
  private currentSessionId: string;
  private stopped = false;
  private destroying: Promise<void> | undefined;
  private watching = false;
  private resolveExited: (exit: SandboxExit) => void = () => undefined;
  private defaultEnv: Record<string, string> = {};
  private readonly residentExecutor: boolean;
  /** Undefined inside: the image cannot run it, and calls go through one docker exec each. */
  private executor: Promise<SandboxExecutor | undefined> | undefined;

  constructor(options: DockerSandboxOptions) {
    this.docker = options.docker;
    this.container = options.container;
    this.id = options.container.id;
    this.currentSessionId = options.sessionId;
    this.logger = options.logger;
    this.wallClockMs = options.wallClockMs;
    this.prepared = options.workspacePrepared ?? false;
    this.residentExecutor = options.residentExecutor ?? false;
    this.disk = options.disk;
    this.exited = new Promise<SandboxExit>((resolve) => {
      this.resolveExited = (exit) => {
        if (this.exit) return;
        this.exit = exit;
        this.stopped = true;
        this.stopWatching();
        options.onExit?.(exit);
        resolve(exit);
      };
    });
  }

  get workspacePrepared(): boolean {
    return this.prepared;
  }

  get preparedFrom(): string | undefined {
    return this.preparedAhead ? 'the warm pool, checked out ahead of time' : undefined;
  }

  /** The warm pool copied the repository in and checked it out before any session had the sandbox. */
  markPrepared(): void {
    this.prepared = true;
    this.preparedAhead = true;
  }

  /** The session the sandbox belongs to ('' for a warm-pool sandbox not claimed yet). */
  get sessionId(): string {
    return this.currentSessionId;
  }

  /** Starts the timers and watches; called by the runtime right after the container started. */
  startWatching(): void {
    this.startIdle();
    this.startSessionClock();
  }

  /**
   * Watches a started sandbox that waits for its session (the warm pool): how it exits and its
   * memory, and starts its executor. Its wall clock and disk limit start when it is claimed.
   */
  startIdle(): void {
    // Waiting only makes sense once it runs: Docker answers a wait on a created container at once.
    if (this.watching || this.stopped) return;
    this.watching = true;
    void this.watchExit().then(this.resolveExited);
    void this.watchOom();
    // Started now so the first tool call does not wait for it; a failure is told to that call.
    if (this.residentExecutor) void this.startExecutor().catch(() => undefined);
  }

  /**
   * Whether a sandbox that waited (the warm pool) still runs and its executor answers calls: a
   * container killed or a Docker engine restarted meanwhile is not handed to a session.
   */
  async usable(): Promise<boolean> {
    if (this.stopped || this.stopReason) return false;
    if (this.residentExecutor) {
      const executor = await this.startExecutor().catch(() => null);
      if (executor === null || executor?.usable === false) return false;
    }
    // One command through it (a few milliseconds): a container killed moments ago may not have
    // been noticed yet, but it cannot answer.
    const answer = await this.exec(['true'], { timeoutMs: USABLE_CHECK_MS, maxOutputBytes: 1024 }).catch(() => undefined);
    return answer?.exitCode === 0 && !this.stopped;
  }

  /** Hands a warm-pool sandbox to its session: from now on it is that session's, on its clock. */
  claim(sessionId: string): void {
    if (this.currentSessionId) throw new Error(`sandbox ${this.id} already belongs to session ${this.currentSessionId}`);
    this.currentSessionId = sessionId;
    this.startSessionClock();
    this.startClaimedBackstop();
  }

  /**
   * The container's own `sleep` started when the pool made it, so it would outlive the session's
   * wall clock by the time it waited if this server died. A process inside ends it at the wall
   * clock instead: PID 1 (docker-init) passes SIGTERM on to the `sleep`, and the container stops.
   * It runs as the sandbox user, like everything in the sandbox: the server's own timer stays the
   * wall that holds, this one and the `sleep` are for a server that is gone. A detached exec of
   * its own, not the executor, whose commands end with the server's connection.
   */
  private startClaimedBackstop(): void {
    const seconds = Math.ceil(this.wallClockMs / 1000);
    void (async () => {
      const exec = await this.container.exec({
        Cmd: ['sh', '-c', `sleep ${seconds}; kill -TERM 1`],
        User: SANDBOX_USER,
        AttachStdin: false,
        AttachStdout: false,
        AttachStderr: false,
        Tty: false,
      });
      await exec.start({ Detach: true });
    })().catch((error: unknown) =>
      this.logger?.warn({ err: error, sessionId: this.sessionId }, "could not start the claimed sandbox's own wall clock; the server's timer still ends it"),
    );
  }

  /** The session's limits in time and disk, counted from the moment the session got the sandbox. */
  private startSessionClock(): void {
    if (this.wallClockTimer || this.stopped) return;
    this.wallClockTimer = setTimeout(() => void this.kill('wall-clock'), this.wallClockMs);
    // A server shutting down should not wait for sandboxes: their own `sleep` ends them.
    this.wallClockTimer.unref();
    const { disk } = this;
    if (!disk) return;
    this.diskWatchdog = new DiskWatchdog({
      limitBytes: disk.limitBytes,
      intervalMs: disk.pollMs,
      meter: disk.meter,
      logger: this.logger,
      sessionId: this.sessionId,
      onExceeded: (usedBytes) => {
        this.logger?.warn({ sessionId: this.sessionId, usedBytes, limitBytes: disk.limitBytes }, 'sandbox went past its disk limit');
        void this.kill('disk');
      },
    });
    this.diskWatchdog.start();
  }

  /**
   * The sandbox's executor, started once. A sandbox whose image has no node gets undefined (one
   * docker exec per call); any other failure to start it fails the call, and every later one.
   */
  private startExecutor(): Promise<SandboxExecutor | undefined> {
    this.executor ??= SandboxExecutor.start({
      docker: this.docker,
      container: this.container,
      user: SANDBOX_USER,
      logger: this.logger,
      explainEnd: async (detail) => {
        const reason = this.stopReason ?? (await this.stoppedReason(1_000));
        return reason === null ? new SandboxExecutorStoppedError(detail) : new SandboxStoppedError(this.sessionId, reason);
      },
    }).catch(async (error: unknown) => {
      if (error instanceof ExecutorUnavailableError) {
        this.logger?.warn({ sessionId: this.sessionId, err: error }, 'sandbox image has no node: one docker exec per command');
        return undefined;
      }
      if (error instanceof SandboxStoppedError || error instanceof SandboxExecutorStoppedError) throw error;
      const gone = await this.translateGone(error);
      throw gone instanceof SandboxStoppedError ? gone : new SandboxExecutorStoppedError(`it could not start (${gone.message})`, { cause: error });
    });
    return this.executor;
  }

  /** Runs one call on the executor; false when there is none (an image without node). */
  private async runOnExecutor(call: Parameters<SandboxExecutor['run']>[0]): Promise<ExecutorOutcome | false> {
    if (!this.residentExecutor) return false;
    const executor = await this.startExecutor();
    if (!executor) return false;
    return executor.run(call);
  }

  setDefaultEnv(vars: Record<string, string>): void {
    this.defaultEnv = { ...this.defaultEnv, ...vars };
  }

  async exec(argv: string[], options: ExecOptions): Promise<ExecResult> {
    this.checkRunnable(argv, options.signal);
    const maxOutputBytes = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    const execId = randomUUID();
    const outcome = await this.runOnExecutor({
      argv,
      execId,
      cwd: options.cwd ?? WORKSPACE_DIR,
      env: { ...this.defaultEnv, ...options.env },
      timeoutMs: Math.max(1, options.timeoutMs),
      maxOutputBytes,
      // The executor kills at the deadline and answers within 2 s after it even when something holds the pipes.
      serverTimeoutMs: options.timeoutMs + 2_000 + SERVER_TIMEOUT_GRACE_MS,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (outcome === false) return this.execByDocker(argv, options);
    if (outcome.kind === 'aborted') throw abortError(options.signal!);
    if (outcome.kind === 'server-timeout') {
      // The executor did not answer (hung, or tampered with from inside): kill the command without it.
      void this.killExecProcesses(execId);
      this.logger?.warn({ sessionId: this.sessionId, argv0: argv[0] }, 'sandbox command outlived its timeout; gave up on it');
      const { stdout, stderr, truncated } = outcome;
      return { exitCode: TIMEOUT_EXIT_CODE, timedOut: true, stdout, stderr, truncated };
    }
    const { exitCode, timedOut, stdout, stderr, truncated } = outcome;
    // Killed by a signal the executor did not send: the sandbox may be dying (OOM, a kill).
    if (exitCode >= 128 && !timedOut) {
      const reason = await this.stoppedReason(exitCode === SIGKILL_EXIT_CODE ? 1_000 : 0);
      if (reason !== null) throw new SandboxStoppedError(this.sessionId, reason);
    }
    return { exitCode, timedOut, stdout, stderr, truncated };
  }

  /** What every exec checks before it runs anything. */
  private checkRunnable(argv: string[], signal: AbortSignal | undefined): void {
    if (argv.length === 0) throw new Error('exec needs a command: argv was empty');
    if (signal?.aborted) throw abortError(signal);
    if (this.stopped || this.stopReason) throw new SandboxStoppedError(this.sessionId, this.exit?.reason ?? this.stopReason);
  }

  /** exec as one `docker exec` under `timeout` (no executor, or an image without node). */
  private async execByDocker(argv: string[], options: ExecOptions): Promise<ExecResult> {
    const started = await this.startExec(argv, options);
    const { stream, execId, timeoutSeconds } = started;
    const { signal } = options;

    const maxOutputBytes = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    const stdout = new CappedCollector(maxOutputBytes);
    const stderr = new CappedCollector(maxOutputBytes);
    this.docker.modem.demuxStream(stream, stdout, stderr);

    type Outcome = { kind: 'ended' } | { kind: 'server-timeout' } | { kind: 'aborted' } | { kind: 'error'; error: Error };
    let serverTimer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    // Errors after the outcome is decided (e.g. on destroy) must not go unhandled.
    stream.on('error', () => undefined);
    const outcome = await new Promise<Outcome>((resolve) => {
      stream.once('end', () => resolve({ kind: 'ended' }));
      stream.once('close', () => resolve({ kind: 'ended' }));
      stream.once('error', (error) => resolve({ kind: 'error', error }));
      serverTimer = setTimeout(() => resolve({ kind: 'server-timeout' }), timeoutSeconds * 1000 + SERVER_TIMEOUT_GRACE_MS);
      if (signal) {
        onAbort = () => resolve({ kind: 'aborted' });
        signal.addEventListener('abort', onAbort, { once: true });
        // Aborted while the exec was being set up: the event has fired already.
        if (signal.aborted) onAbort();
      }
    });
    clearTimeout(serverTimer);
    if (signal && onAbort) signal.removeEventListener('abort', onAbort);

    const collected = () => ({
      stdout: stdout.text(),
      stderr: stderr.text(),
      truncated: stdout.dropped > 0 || stderr.dropped > 0,
    });

    if (outcome.kind === 'server-timeout' || outcome.kind === 'aborted') {
      stream.destroy();
      void this.killExecProcesses(execId);
      if (outcome.kind === 'aborted') throw abortError(signal!);
      this.logger?.warn({ sessionId: this.sessionId, argv0: argv[0] }, 'sandbox command outlived its timeout; gave up on it');
      return { exitCode: TIMEOUT_EXIT_CODE, timedOut: true, ...collected() };
    }
    if (outcome.kind === 'error') {
      stream.destroy();
      throw await this.translateGone(outcome.error);
    }
    return { ...(await this.settleExec(started)), ...collected() };
  }

  async execStream(argv: string[], options: ExecOptions): Promise<ExecStream> {
    const started = await this.startExec(argv, options);
    const { signal } = options;
    const output = streamExecOutput({
      stream: started.stream,
      maxStderrBytes: options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES,
      timeoutMs: started.timeoutSeconds * 1000 + SERVER_TIMEOUT_GRACE_MS,
      ...(signal ? { signal } : {}),
    });
    const result = output.outcome.then(async (outcome) => {
      // The command may still run (a reader that gave up, a deadline, an abort): it is killed.
      if (outcome.kind !== 'ended') void this.killExecProcesses(started.execId);
      if (outcome.kind === 'aborted') throw abortError(signal!);
      if (outcome.kind === 'error') throw await this.translateGone(outcome.error);
      if (outcome.kind === 'server-timeout') {
        this.logger?.warn({ sessionId: this.sessionId, argv0: argv[0] }, 'sandbox command outlived its timeout; gave up on it');
        return { exitCode: TIMEOUT_EXIT_CODE, timedOut: true, stderr: output.stderr() };
      }
      if (outcome.kind === 'abandoned') return { exitCode: SIGKILL_EXIT_CODE, timedOut: false, stderr: output.stderr() };
      return { ...(await this.settleExec(started)), stderr: output.stderr() };
    });
    // A reader that only reads stdout (and sees its error) must not leave this unhandled.
    result.catch(() => undefined);
    return { stdout: output.stdout, result };
  }

  /** Starts argv as the sandbox user under `timeout`, tagged so its processes can be found again. */
  private async startExec(argv: string[], options: ExecOptions): Promise<StartedExec> {
    this.checkRunnable(argv, options.signal);

    const timeoutSeconds = Math.max(1, Math.ceil(options.timeoutMs / 1000));
    const execId = randomUUID();
    const env = Object.entries({ ...this.defaultEnv, ...options.env }).map(([key, value]) => `${key}=${value}`);
    env.push(`${EXEC_ID_ENV}=${execId}`);

    let exec: Dockerode.Exec;
    let stream: Duplex;
    try {
      exec = await this.container.exec({
        // `timeout` puts the command in its own process group and kills the whole group.
        Cmd: ['timeout', '-s', 'KILL', `${timeoutSeconds}s`, ...argv],
        AttachStdout: true,
        AttachStderr: true,
        AttachStdin: false,
        Tty: false,
        User: SANDBOX_USER,
        WorkingDir: options.cwd ?? WORKSPACE_DIR,
        Env: env,
      });
      // No stdin, so no hijacked (upgraded) connection: with one, a command that ends at once can
      // close the socket before the client has written its request body, which fails as EPIPE.
      stream = (await exec.start({ hijack: false, stdin: false })) as Duplex;
    } catch (error) {
      throw await this.translateGone(error);
    }
    return { exec, stream, execId, timeoutSeconds, startedAt: Date.now() };
  }

  /** The exit code of a command whose output has ended; a SandboxStoppedError when the sandbox died under it. */
  private async settleExec(started: StartedExec): Promise<{ exitCode: number; timedOut: boolean }> {
    const { exec, execId, timeoutSeconds, startedAt } = started;
    const exitCode = await execExitCode(exec);
    const elapsedMs = Date.now() - startedAt;
    // 137 is also what a command killed for another reason (OOM, kill -9) reports: only the
    // wrapper's own deadline makes it a timeout.
    const timedOut =
      exitCode === TIMEOUT_EXIT_CODE || (exitCode === SIGKILL_EXIT_CODE && elapsedMs >= timeoutSeconds * 1000 - 250);
    // The wrapper kills the command's process group; this also gets what escaped it (setsid).
    if (timedOut) void this.killExecProcesses(execId);
    if (exitCode === undefined || (exitCode >= 128 && !timedOut)) {
      const reason = await this.stoppedReason(exitCode === undefined || exitCode === SIGKILL_EXIT_CODE ? 1_000 : 0);
      if (reason !== null) throw new SandboxStoppedError(this.sessionId, reason);
    }
    return { exitCode: exitCode ?? SIGKILL_EXIT_CODE, timedOut };
  }

  /**
   * A small archive (most repositories' .git) is extracted by `tar` run as the sandbox user on
   * the executor: Docker's archive API costs about 70 ms even for a few kilobytes. A larger one
   * streams through that API, which does not hold it in memory.
   */
  async putArchive(dir: string, tar: Readable): Promise<void> {
    if (this.stopped) throw new SandboxStoppedError(this.sessionId, this.exit?.reason);
    const head = this.residentExecutor ? await readUpTo(tar, EXECUTOR_ARCHIVE_MAX_BYTES) : { chunks: [], ended: false };
    if (head.ended) {
      const outcome = await this.runOnExecutor({
        // -p keeps the archive's modes; a user that is not root keeps no owner but itself.
        argv: ['tar', '-x', '-p', '-f', '-', '-C', dir],
        execId: randomUUID(),
        cwd: '/',
        env: {},
        timeoutMs: ARCHIVE_TIMEOUT_MS,
        maxOutputBytes: 64 * 1024,
        input: Buffer.concat(head.chunks),
        serverTimeoutMs: ARCHIVE_TIMEOUT_MS + 2_000 + SERVER_TIMEOUT_GRACE_MS,
      });
      if (outcome !== false) {
        if (outcome.kind === 'exit' && outcome.exitCode === 0 && !outcome.timedOut) return;
        const detail = outcome.kind === 'exit' ? `exit ${outcome.exitCode}: ${outcome.stderr.trim().slice(0, 500)}` : 'it did not finish in time';
        throw new Error(`Could not copy files into the sandbox at ${dir} (${detail}); the sandbox may be out of disk space`);
      }
    }
    try {
      // What was read already goes first, then the rest of the stream.
      await this.container.putArchive(head.chunks.length > 0 ? Readable.from(prepend(head.chunks, tar)) : tar, { path: dir });
    } catch (error) {
      throw await this.translateGone(error);
    }
  }

  /**
   * Writes as the sandbox user through a writer that refuses symbolic links (the executor's,
   * executor-writer.ts, or without one write-file-script.ts), never with putArchive: Docker
   * extracts archives as root and follows links the agent may have planted.
   */
  async writeFile(path: string, content: Buffer | string): Promise<void> {
    if (!posix.isAbsolute(path)) {
      throw new Error(`writeFile needs an absolute path inside the sandbox (got "${path}"); resolve it against the workspace first`);
    }
    const target = posix.normalize(path);
    const name = posix.basename(target);
    if (!name || target.endsWith('/')) throw new Error(`writeFile needs a file path, not a directory (got "${path}")`);
    if (this.stopped || this.stopReason) throw new SandboxStoppedError(this.sessionId, this.exit?.reason ?? this.stopReason);

    const body = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    const result = await this.runWriter(target, body);
    if (result.exitCode === 0) return;
    if (result.exitCode === undefined || result.exitCode >= 128) {
      const reason = await this.stoppedReason(1_000);
      if (reason !== null) throw new SandboxStoppedError(this.sessionId, reason);
    }
    throw new Error(describeWriteFailure(target, result));
  }

  /**
   * Writes with the executor's own writer (executor-writer.ts), else with the Python one of
   * write-file-script.ts as one docker exec with the content on its stdin. Same rules either way.
   */
  private async runWriter(target: string, body: Buffer): Promise<ExecWithInputResult> {
    const outcome = await this.runOnExecutor({
      argv: [],
      execId: '',
      write: { path: target, size: body.length },
      cwd: '/',
      env: {},
      timeoutMs: WRITE_TIMEOUT_MS,
      maxOutputBytes: 64 * 1024,
      input: body,
      serverTimeoutMs: WRITE_TIMEOUT_MS + 2_000 + SERVER_TIMEOUT_GRACE_MS,
    });
    if (outcome !== false) {
      // No abort signal here, so the outcome is an exit or the server's own deadline.
      if (outcome.kind !== 'exit') return { exitCode: undefined, stdout: '', stderr: '', timedOut: true };
      const { exitCode, stdout, stderr, timedOut } = outcome;
      return { exitCode: timedOut ? undefined : exitCode, stdout, stderr, timedOut };
    }
    const timeoutSeconds = Math.ceil(WRITE_TIMEOUT_MS / 1000);
    try {
      return await execWithInput({
        docker: this.docker,
        container: this.container,
        argv: ['timeout', '-s', 'KILL', `${timeoutSeconds}s`, ...writeFileArgv(target, body.length)],
        input: body,
        user: SANDBOX_USER,
        timeoutMs: WRITE_TIMEOUT_MS + SERVER_TIMEOUT_GRACE_MS,
      });
    } catch (error) {
      throw await this.translateGone(error);
    }
  }

  /**
   * One `docker exec` of a relay that listens inside the sandbox and carries each connection over
   * its stdin/stdout (see loopback-tunnel.ts), as the sandbox user. The relay is tagged like an
   * exec, so close() can kill it even when it does not exit by itself.
   */
  async serveLoopbackPort(port: number, onConnection: (socket: Duplex) => void): Promise<LoopbackService> {
    if (this.stopped || this.stopReason) throw new SandboxStoppedError(this.sessionId, this.exit?.reason ?? this.stopReason);
    const execId = randomUUID();
    try {
      return await openLoopbackTunnel({
        docker: this.docker,
        container: this.container,
        port,
        onConnection,
        user: SANDBOX_USER,
        env: [`${EXEC_ID_ENV}=${execId}`],
        kill: () => this.killExecProcesses(execId),
        explainEnd: async (detail) => {
          const reason = await this.stoppedReason(1_000);
          return reason === null ? new Error(detail) : new SandboxStoppedError(this.sessionId, reason);
        },
        logger: this.logger,
        label: this.sessionId,
      });
    } catch (error) {
      throw await this.translateGone(error);
    }
  }

  destroy(): Promise<void> {
    this.destroying ??= (async () => {
      this.stopReason ??= 'removed';
      this.stopWatching();
      await forceRemove(this.container);
      this.closeExecutor();
      // Never started (create failed half-way): nothing will ever wait on it.
      if (!this.watching) this.resolveExited({ exitCode: SIGKILL_EXIT_CODE, oomKilled: false, reason: 'removed' });
    })();
    return this.destroying;
  }

  /** Kills the container but keeps it, so `exited` can still read why it stopped. */
  private async kill(reason: StopReason): Promise<void> {
    if (this.stopped) return;
    this.stopReason ??= reason;
    this.logger?.info({ sessionId: this.sessionId, reason }, 'stopping sandbox');
    try {
      await this.container.kill();
    } catch (error) {
      const status = statusCodeOf(error);
      // 404/409: it is gone or already not running.
      if (status !== 404 && status !== 409) {
        this.logger?.warn({ sessionId: this.sessionId, err: error }, 'could not kill sandbox container');
      }
    }
  }

  private async watchExit(): Promise<SandboxExit> {
    let statusCode: number | undefined;
    try {
      const result = (await this.container.wait()) as { StatusCode?: number };
      statusCode = result.StatusCode;
    } catch {
      // The container vanished before or while we waited: fall through to what we know.
    }
    let oomKilled = false;
    try {
      const info = await this.container.inspect();
      oomKilled = info.State.OOMKilled;
      statusCode ??= info.State.ExitCode;
    } catch {
      // Removed already (destroy): the reason we recorded is all there is.
    }
    const exitCode = statusCode ?? SIGKILL_EXIT_CODE;
    if (oomKilled || this.stopReason === 'oom') return { exitCode, oomKilled: true, reason: 'oom' };
    if (this.stopReason) return { exitCode, oomKilled, reason: this.stopReason };
    // The main process is `sleep <wall clock>`: its ending normally means the time is up.
    if (exitCode === 0) return { exitCode, oomKilled, reason: 'wall-clock' };
    if (exitCode >= 128) return { exitCode, oomKilled, reason: 'killed' };
    return { exitCode, oomKilled, reason: 'exited' };
  }

  /**
   * A process of the sandbox hitting the memory limit is OOM-killed by the kernel, but the
   * container lives on; the sandbox is stopped as a whole so the caller learns why.
   */
  private async watchOom(): Promise<void> {
    try {
      const events = (await this.docker.getEvents({
        filters: { type: ['container'], container: [this.id], event: ['oom'] },
      })) as unknown as Readable;
      if (this.stopped) {
        events.destroy();
        return;
      }
      this.oomEvents = events;
      events.on('error', () => undefined);
      events.on('data', () => {
        this.stopReason = 'oom';
        void this.kill('oom');
      });
    } catch (error) {
      this.logger?.warn({ sessionId: this.sessionId, err: error }, 'could not watch sandbox for OOM; memory kills will show as command failures');
    }
  }

  /** Lets go of the executor's stream; calls in flight fail as the sandbox's stop. */
  private closeExecutor(): void {
    void this.executor?.then(
      (executor) => executor?.close(new SandboxStoppedError(this.sessionId, this.exit?.reason ?? this.stopReason)),
      () => undefined,
    );
  }

  private stopWatching(): void {
    clearTimeout(this.wallClockTimer);
    this.diskWatchdog?.stop();
    this.oomEvents?.destroy();
    this.oomEvents = undefined;
  }

  /**
   * Whether the sandbox has stopped (null while it runs). A process killed with SIGKILL may be the
   * first sign of an OOM stop, whose event lands a moment later, so look for `settleMs` first.
   */
  private async stoppedReason(settleMs: number): Promise<StopReason | undefined | null> {
    const deadline = Date.now() + settleMs;
    for (;;) {
      if (this.exit) return this.exit.reason;
      if (this.stopReason) return this.stopReason;
      try {
        const info = await this.container.inspect();
        if (!info.State.Running) return (await this.exitedWithin(2_000))?.reason;
      } catch (error) {
        if (statusCodeOf(error) === 404) return (await this.exitedWithin(2_000))?.reason ?? 'removed';
      }
      if (Date.now() >= deadline) return null;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  private async exitedWithin(ms: number): Promise<SandboxExit | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), ms);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Docker's "not running" (409) and "no such container" (404) become a SandboxStoppedError. */
  private async translateGone(error: unknown): Promise<Error> {
    const status = statusCodeOf(error);
    if (status === 404 || status === 409 || this.stopped || this.stopReason) {
      const reason = this.stopReason ?? (await this.exitedWithin(2_000))?.reason ?? (status === 404 ? 'removed' : undefined);
      return new SandboxStoppedError(this.sessionId, reason, { cause: error });
    }
    return error instanceof Error ? error : new Error(String(error));
  }

  /**
   * Kills every process of one exec (they all carry its id in their environment) when the server
   * stops waiting for it; detaching from the stream alone would leave them running.
   */
  /** Kills what carries the exec's marker; the promise settles once the killing exec ended (never rejects). */
  private killExecProcesses(execId: string): Promise<void> {
    const script =
      'for p in /proc/[0-9]*; do grep -qzxF -- "$1" "$p/environ" 2>/dev/null && kill -KILL "${p#/proc/}" 2>/dev/null; done; true';
    return (async () => {
      try {
        const exec = await this.container.exec({
          Cmd: ['timeout', '-s', 'KILL', '10s', 'sh', '-c', script, 'sh', `${EXEC_ID_ENV}=${execId}`],
          User: SANDBOX_USER,
          AttachStdout: false,
          AttachStderr: false,
        });
        await exec.start({ Detach: true });
        for (let waited = 0; waited < KILL_WAIT_MS && (await exec.inspect()).Running; waited += KILL_POLL_MS) {
          await new Promise((resolve) => setTimeout(resolve, KILL_POLL_MS));
        }
      } catch {
        // The sandbox is gone: so are its processes.
      }
    })();
  }
}
