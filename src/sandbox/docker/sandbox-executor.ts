import { encodeFrame, FrameReader } from './frames.js';
import type { Duplex } from 'node:stream';
import { Writable } from 'node:stream';
import type Dockerode from 'dockerode';
import type { Logger } from '../../logger.js';
import { execExitCode } from './exec-exit-code.js';
import {
  EXECUTOR_MAX_INPUT_FRAME,
  EXECUTOR_MAX_OUTPUT_FRAME,
  EXECUTOR_PROTOCOL_VERSION,
  EXECUTOR_SCRIPT,
  ExecutorFrame,
  type ExecEnd,
  type ExecRequest,
} from './executor-script.js';

/**
 * The sandbox's command executor died (killed from inside, crashed) while the sandbox runs on.
 * Fatal for the session: commands are not silently moved to another path.
 */
export class SandboxExecutorStoppedError extends Error {
  constructor(detail: string, options?: { cause?: unknown }) {
    super(`The sandbox's command executor stopped: ${detail}. Start a new session to continue (a command that kills every node process in the sandbox ends it).`, options);
    this.name = 'SandboxExecutorStoppedError';
  }
}

/** The image has no `node`, so no executor can run there (the caller falls back to one docker exec per call). */
export class ExecutorUnavailableError extends Error {
  constructor(detail: string) {
    super(`The sandbox image cannot run the command executor (${detail}); build it from sandbox/Dockerfile, which installs node`);
    this.name = 'ExecutorUnavailableError';
  }
}

export interface SandboxExecutorOptions {
  docker: Dockerode;
  container: Dockerode.Container;
  /** The sandbox user: the executor and every command it runs run as it, never as root. */
  user: string;
  /**
   * The error for an executor that ended by itself (`detail` says what the server saw): a stopped
   * sandbox's own error when the sandbox went away, else a SandboxExecutorStoppedError.
   */
  explainEnd: (detail: string) => Promise<Error>;
  startTimeoutMs?: number;
  /** The interpreter; only tests change it. */
  node?: string;
  logger?: Logger | undefined;
}

export interface ExecutorCall extends Omit<ExecRequest, 'stdin'> {
  /** Written to the command's stdin (then closed); without it stdin is /dev/null. */
  input?: Buffer;
  signal?: AbortSignal;
  /** The server gives up this long after the start when the executor never answers. */
  serverTimeoutMs: number;
}

export type ExecutorOutcome =
  | { kind: 'exit'; exitCode: number; timedOut: boolean; stdout: string; stderr: string; truncated: boolean }
  /** No answer by serverTimeoutMs: the call was killed; what came so far is here. */
  | { kind: 'server-timeout'; stdout: string; stderr: string; truncated: boolean }
  | { kind: 'aborted' };

const DEFAULT_START_TIMEOUT_MS = 30_000;
const MAX_DIAGNOSTIC_BYTES = 2_048;

/** Keeps the first `limit` bytes and counts the rest (the executor caps too, but is not trusted). */
class CappedBuffer {
  readonly #chunks: Buffer[] = [];
  #kept = 0;
  dropped = 0;
  constructor(private readonly limit: number) {}
  add(chunk: Buffer): void {
    const room = this.limit - this.#kept;
    if (room >= chunk.length) {
      this.#chunks.push(Buffer.from(chunk));
      this.#kept += chunk.length;
      return;
    }
    if (room > 0) {
      this.#chunks.push(Buffer.from(chunk.subarray(0, room)));
      this.#kept += room;
    }
    this.dropped += chunk.length - Math.max(room, 0);
  }
  text(): string {
    return Buffer.concat(this.#chunks).toString('utf8');
  }
}

interface PendingCall {
  stdout: CappedBuffer;
  stderr: CappedBuffer;
  settle: (outcome: ExecutorOutcome) => void;
  fail: (error: Error) => void;
}

/**
 * The server's end of one sandbox's executor (see executor-script.ts): one `docker exec` with
 * attached stdio, held for the sandbox's life, over which every call runs.
 */
export class SandboxExecutor {
  readonly #options: SandboxExecutorOptions;
  readonly #calls = new Map<number, PendingCall>();
  readonly #stderr = new CappedBuffer(MAX_DIAGNOSTIC_BYTES);
  readonly #stray = new CappedBuffer(MAX_DIAGNOSTIC_BYTES);
  #exec: Dockerode.Exec | undefined;
  #stream: Duplex | undefined;
  readonly #frames = new FrameReader({
    maxPayload: EXECUTOR_MAX_OUTPUT_FRAME,
    helloType: ExecutorFrame.HELLO,
    onNotHello: (stray) => {
      // Not the executor talking: what Docker or a shell printed instead is the useful message,
      // told once the exec ended and its exit code is known (#onStreamEnd).
      this.#stray.add(stray);
      this.#strayOutput = true;
    },
    onOversize: (length) =>
      this.#fail(
        new SandboxExecutorStoppedError(`it sent a frame of ${length} bytes (at most ${EXECUTOR_MAX_OUTPUT_FRAME} allowed); something in the sandbox tampered with it`),
      ),
    onFrame: (type, id, payload) => {
      this.#onFrame(type, id, payload);
      return !this.#failure;
    },
  });
  #nextId = 1;
  #helloSeen = false;
  /** Something other than the executor wrote first; the rest is kept for the error message. */
  #strayOutput = false;
  #closed = false;
  /** Set once the executor is gone: every call from then on fails with it. */
  #failure: Error | undefined;
  #resolveReady: () => void = () => undefined;
  #rejectReady: (error: Error) => void = () => undefined;
  readonly #ready: Promise<void>;

  private constructor(options: SandboxExecutorOptions) {
    this.#options = options;
    this.#ready = new Promise((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    this.#ready.catch(() => undefined);
  }

  /**
   * Starts the executor; resolves once it said hello in this protocol version. Rejects with
   * ExecutorUnavailableError when the image has no node, with Docker's error when the sandbox is gone.
   */
  static async start(options: SandboxExecutorOptions): Promise<SandboxExecutor> {
    const executor = new SandboxExecutor(options);
    try {
      await executor.#start();
    } catch (error) {
      executor.close();
      throw error;
    }
    return executor;
  }

  async #start(): Promise<void> {
    const { docker, container } = this.#options;
    const exec = await container.exec({
      // One V8 helper thread: the executor counts against the sandbox's pids limit.
      Cmd: [this.#options.node ?? 'node', '--v8-pool-size=1', '-e', EXECUTOR_SCRIPT],
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      User: this.#options.user,
      WorkingDir: '/',
      Env: ['UV_THREADPOOL_SIZE=1'],
    });
    this.#exec = exec;
    const stream = (await exec.start({ hijack: true, stdin: true })) as Duplex;
    this.#stream = stream;
    // An idle executor must not keep a server that shuts down alive (as the sandbox's own
    // wall-clock timer does not); a call in flight holds its own timer.
    (stream as Duplex & { unref?: () => void }).unref?.();
    const frames = new Writable({
      write: (chunk: Buffer, _encoding, callback) => {
        this.#receive(chunk);
        callback();
      },
    });
    const stderr = new Writable({
      write: (chunk: Buffer, _encoding, callback) => {
        this.#stderr.add(chunk);
        callback();
      },
    });
    docker.modem.demuxStream(stream, frames, stderr);
    let ended = false;
    const onEnd = (error?: Error) => {
      if (ended) return;
      ended = true;
      void this.#onStreamEnd(error);
    };
    stream.once('end', () => onEnd());
    stream.once('close', () => onEnd());
    stream.on('error', (error: Error) => onEnd(error));
    const timeoutMs = this.#options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    const timer = setTimeout(() => this.#fail(new Error(`The sandbox's command executor did not start within ${timeoutMs / 1000}s`)), timeoutMs);
    try {
      await this.#ready;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Runs one call; rejects when the executor is gone (see SandboxExecutorOptions.explainEnd). */
  run(call: ExecutorCall): Promise<ExecutorOutcome> {
    if (this.#failure) return Promise.reject(this.#failure);
    const { signal, input } = call;
    const id = this.#nextId;
    this.#nextId = this.#nextId >= 0xffffffff ? 1 : this.#nextId + 1;
    const request: ExecRequest = {
      argv: call.argv,
      cwd: call.cwd,
      env: call.env,
      timeoutMs: call.timeoutMs,
      maxOutputBytes: call.maxOutputBytes,
      execId: call.execId,
      stdin: input !== undefined,
      ...(call.write ? { write: call.write } : {}),
    };
    const payload = Buffer.from(JSON.stringify(request), 'utf8');
    if (payload.length > EXECUTOR_MAX_INPUT_FRAME) {
      return Promise.reject(new Error(`The command is too long for the sandbox's executor (${payload.length} bytes, at most ${EXECUTOR_MAX_INPUT_FRAME})`));
    }
    return new Promise<ExecutorOutcome>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      let onAbort: (() => void) | undefined;
      const done = () => {
        clearTimeout(timer);
        if (signal && onAbort) signal.removeEventListener('abort', onAbort);
        this.#calls.delete(id);
      };
      const pending: PendingCall = {
        stdout: new CappedBuffer(call.maxOutputBytes),
        stderr: new CappedBuffer(call.maxOutputBytes),
        settle: (outcome) => {
          done();
          resolve(outcome);
        },
        fail: (error) => {
          done();
          reject(error);
        },
      };
      this.#calls.set(id, pending);
      const collected = () => ({
        stdout: pending.stdout.text(),
        stderr: pending.stderr.text(),
        truncated: pending.stdout.dropped > 0 || pending.stderr.dropped > 0,
      });
      timer = setTimeout(() => {
        this.#send(ExecutorFrame.KILL, id);
        pending.settle({ kind: 'server-timeout', ...collected() });
      }, call.serverTimeoutMs);
      if (signal) {
        onAbort = () => {
          this.#send(ExecutorFrame.KILL, id);
          pending.settle({ kind: 'aborted' });
        };
        signal.addEventListener('abort', onAbort, { once: true });
      }
      this.#send(ExecutorFrame.EXEC, id, payload);
      if (input !== undefined) {
        for (let offset = 0; offset < input.length; offset += EXECUTOR_MAX_OUTPUT_FRAME) {
          this.#send(ExecutorFrame.STDIN, id, input.subarray(offset, offset + EXECUTOR_MAX_OUTPUT_FRAME));
        }
        this.#send(ExecutorFrame.STDIN_END, id);
      }
    });
  }

  /** Stops the executor (its commands die with it); calls in flight fail with `error`. Safe to call twice. */
  close(error: Error = new Error("The sandbox's command executor was closed")): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#fail(error);
  }

  #send(type: number, id: number, payload?: Buffer): void {
    const stream = this.#stream;
    if (!stream || this.#failure || stream.destroyed || stream.writableEnded) return;
    stream.write(encodeFrame(type, id, payload));
  }

  #receive(chunk: Buffer): void {
    if (this.#failure) return;
    if (this.#strayOutput) {
      this.#stray.add(chunk);
      return;
    }
    this.#frames.push(chunk);
  }

  #onFrame(type: number, id: number, payload: Buffer): void {
    if (type === ExecutorFrame.HELLO) {
      if (this.#helloSeen) return;
      this.#helloSeen = true;
      if (payload.length !== 1 || payload[0] !== EXECUTOR_PROTOCOL_VERSION) {
        this.#fail(
          new Error(
            `The sandbox's command executor speaks protocol version ${payload[0] ?? 'none'}, this server ${EXECUTOR_PROTOCOL_VERSION}; the executor and the server come from different TeleCoder builds`,
          ),
        );
        return;
      }
      this.#resolveReady();
      return;
    }
    const call = this.#calls.get(id);
    // A call the server gave up on, or noise: nothing to do.
    if (!call) return;
    if (type === ExecutorFrame.STDOUT) call.stdout.add(payload);
    else if (type === ExecutorFrame.STDERR) call.stderr.add(payload);
    else if (type === ExecutorFrame.EXIT) {
      let end: Partial<ExecEnd>;
      try {
        end = JSON.parse(payload.toString('utf8')) as Partial<ExecEnd>;
      } catch {
        end = {};
      }
      const exitCode = typeof end.exitCode === 'number' && Number.isInteger(end.exitCode) ? end.exitCode : 1;
      const dropped = typeof end.dropped === 'number' ? end.dropped : 0;
      call.settle({
        kind: 'exit',
        exitCode,
        timedOut: end.timedOut === true,
        stdout: call.stdout.text(),
        stderr: call.stderr.text(),
        truncated: dropped > 0 || call.stdout.dropped > 0 || call.stderr.dropped > 0,
      });
    }
  }

  async #onStreamEnd(error?: Error): Promise<void> {
    if (this.#failure) return;
    const exitCode = this.#exec ? await execExitCode(this.#exec, { attempts: 10 }).catch(() => undefined) : undefined;
    if (this.#failure) return;
    const output = [this.#stray.text().trim(), this.#stderr.text().trim()].filter(Boolean).join('; ');
    if (!this.#helloSeen) {
      const notFound = exitCode === 126 || exitCode === 127 || /executable file not found|no such file/i.test(output);
      const detail = [exitCode === undefined ? '' : `exit code ${exitCode}`, output].filter(Boolean).join(': ') || 'it ended without a word';
      this.#fail(notFound ? new ExecutorUnavailableError(detail) : await this.#options.explainEnd(`it did not start (${detail})`));
      return;
    }
    const parts = [exitCode === undefined ? 'its exit code is unknown' : exitCode > 128 ? `killed by signal ${exitCode - 128}` : `exit code ${exitCode}`];
    if (output) parts.push(output);
    if (error) parts.push(error.message);
    this.#fail(await this.#options.explainEnd(parts.join('; ')));
  }

  /** False once the executor ended or was closed: every call would fail. */
  get usable(): boolean {
    return !this.#failure && !this.#closed;
  }

  /** Ends the executor with `error`: calls in flight and every later call fail with it. */
  #fail(error: Error): void {
    if (this.#failure) return;
    this.#failure = error;
    this.#rejectReady(error);
    this.#stream?.destroy();
    for (const call of [...this.#calls.values()]) call.fail(error);
    this.#calls.clear();
    this.#frames.clear();
    if (error instanceof SandboxExecutorStoppedError) this.#options.logger?.warn({ err: error }, "the sandbox's command executor ended");
  }
}
