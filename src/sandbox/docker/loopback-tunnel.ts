import { encodeFrame, FrameReader } from './frames.js';
import { Duplex, Writable } from 'node:stream';
import type Dockerode from 'dockerode';
import type { Logger } from '../../logger.js';
import type { LoopbackService } from '../runtime.js';
import { execExitCode } from './exec-exit-code.js';
import {
  FLOW_WINDOW,
  FrameType,
  LOOPBACK_PROTOCOL_VERSION,
  MAX_CONNECTIONS,
  MAX_FRAME_PAYLOAD,
  RELAY_SCRIPT,
} from './loopback-relay.js';

export interface LoopbackTunnelOptions {
  docker: Dockerode;
  container: Dockerode.Container;
  /** The port to listen on at 127.0.0.1 inside the sandbox. */
  port: number;
  onConnection: (socket: Duplex) => void;
  /** The user the relay runs as: the sandbox user, never root. */
  user: string;
  /** Environment of the relay (a marker `kill` finds its processes by). */
  env?: string[];
  /** Kills the relay's processes: on close, in case it does not exit when its stdin ends. */
  kill: () => Promise<void> | void;
  /**
   * Why the relay ended when nobody closed the service (`detail` says what the server saw): a
   * stopped sandbox's own error, say. Default: an Error with the detail.
   */
  explainEnd?: (detail: string) => Promise<Error>;
  /** How long the relay may take to listen. */
  startTimeoutMs?: number;
  /** The relay's interpreter; only tests change it. */
  node?: string;
  logger?: Logger | undefined;
  /** Names the sandbox in messages (its session id). */
  label?: string;
}

const DEFAULT_START_TIMEOUT_MS = 30_000;
/** How long close() waits for the relay to exit before cutting the stream. */
const CLOSE_GRACE_MS = 3_000;
/** The relay's stderr and any non-frame output kept for error messages. */
const MAX_DIAGNOSTIC_BYTES = 2_048;
/**
 * Unacknowledged bytes accepted from the relay per connection. The relay checks its window after
 * each socket read (up to 64 KiB), so it may overshoot by one read.
 */
const INBOUND_WINDOW_LIMIT = FLOW_WINDOW + 2 * MAX_FRAME_PAYLOAD;

/** What a connection needs from its tunnel. */
interface TunnelPort {
  /** Writes one frame to the relay; false when the stream to it is full (see whenDrained). */
  send(type: number, id: number, payload?: Buffer): boolean;
  whenDrained(callback: () => void): void;
  forget(id: number): void;
}

function u32(value: number): Buffer {
  const buffer = Buffer.allocUnsafe(4);
  buffer.writeUInt32BE(value, 0);
  return buffer;
}

/**
 * One connection made inside the sandbox, as the server sees it. Never emits 'error': a reset
 * from the sandbox or a closed service destroys it quietly (its readable side then ends without
 * 'end', which stream.finished reports as a premature close), so a consumer without an error
 * handler cannot crash the server.
 */
class LoopbackConnection extends Duplex {
  readonly #id: number;
  readonly #tunnel: TunnelPort;
  /** Bytes sent to the relay that it has not acknowledged. */
  #unackedOut = 0;
  /** Bytes received from the relay not yet acknowledged to it. */
  #unackedIn = 0;
  /** Received bytes already taken by the reader, to acknowledge. */
  #toAck = 0;
  #waitingForWindow: (() => void) | undefined;
  #remoteClosed = false;
  /** The relay sent END: a push after it would make the stream emit 'error'. */
  #remoteEnded = false;

  constructor(id: number, tunnel: TunnelPort) {
    super({ allowHalfOpen: true });
    this.#id = id;
    this.#tunnel = tunnel;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#sendData(chunk, 0, callback);
  }

  #sendData(chunk: Buffer, start: number, callback: (error?: Error | null) => void): void {
    let offset = start;
    let roomInStream = true;
    while (offset < chunk.length) {
      // The sandbox side is gone: like a socket whose peer vanished, the bytes go nowhere.
      if (this.#remoteClosed) break;
      if (this.#unackedOut >= FLOW_WINDOW) {
        this.#waitingForWindow = () => this.#sendData(chunk, offset, callback);
        return;
      }
      const size = Math.min(MAX_FRAME_PAYLOAD, FLOW_WINDOW - this.#unackedOut, chunk.length - offset);
      roomInStream = this.#tunnel.send(FrameType.DATA, this.#id, chunk.subarray(offset, offset + size));
      this.#unackedOut += size;
      offset += size;
    }
    if (roomInStream) callback();
    else this.#tunnel.whenDrained(() => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (!this.#remoteClosed) this.#tunnel.send(FrameType.END, this.#id);
    callback();
  }

  override _read(): void {
    this.#flushAck();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.#remoteClosed) {
      this.#remoteClosed = true;
      this.#tunnel.send(FrameType.CLOSE, this.#id);
    }
    this.#waitingForWindow = undefined;
    this.#tunnel.forget(this.#id);
    callback(error);
  }

  /** Bytes from the sandbox; false when the relay sent more than the window allows. */
  receiveData(payload: Buffer): boolean {
    this.#unackedIn += payload.length;
    if (this.#unackedIn > INBOUND_WINDOW_LIMIT) return false;
    if (this.destroyed || this.#remoteEnded) return true;
    this.#toAck += payload.length;
    // Acknowledged once the reader has room again, so a slow reader holds the relay back.
    if (this.push(payload)) this.#flushAck();
    return true;
  }

  receiveEnd(): void {
    if (this.destroyed || this.#remoteEnded) return;
    this.#remoteEnded = true;
    this.push(null);
  }

  receiveClose(): void {
    this.#remoteClosed = true;
    this.destroy();
  }

  receiveAck(bytes: number): void {
    this.#unackedOut = Math.max(0, this.#unackedOut - bytes);
    const resume = this.#waitingForWindow;
    if (resume && this.#unackedOut < FLOW_WINDOW) {
      this.#waitingForWindow = undefined;
      resume();
    }
  }

  #flushAck(): void {
    if (this.#toAck === 0 || this.#remoteClosed) return;
    this.#tunnel.send(FrameType.ACK, this.#id, u32(this.#toAck));
    this.#unackedIn -= this.#toAck;
    this.#toAck = 0;
  }
}

/** Keeps the first bytes written to it, for error messages. */
class DiagnosticCollector extends Writable {
  #chunks: Buffer[] = [];
  #size = 0;
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.keep(chunk);
    callback();
  }
  keep(chunk: Buffer): void {
    if (this.#size >= MAX_DIAGNOSTIC_BYTES) return;
    const kept = chunk.subarray(0, MAX_DIAGNOSTIC_BYTES - this.#size);
    this.#chunks.push(Buffer.from(kept));
    this.#size += kept.length;
  }
  text(): string {
    return Buffer.concat(this.#chunks).toString('utf8').trim();
  }
}

/**
 * The server's end of one loopback relay (see loopback-relay.ts): parses the relay's frames,
 * turns each connection into a LoopbackConnection, and owns the exec's lifetime.
 */
class LoopbackTunnel implements LoopbackService, TunnelPort {
  readonly ended: Promise<Error | undefined>;
  readonly ready: Promise<void>;

  readonly #options: LoopbackTunnelOptions;
  readonly #label: string;
  readonly #connections = new Map<number, LoopbackConnection>();
  readonly #drainWaiters: Array<() => void> = [];
  readonly #stderr = new DiagnosticCollector();
  /** Output before the hello frame that was not a frame (Docker's "executable not found", say). */
  readonly #strayOutput = new DiagnosticCollector();
  #exec: Dockerode.Exec | undefined;
  #stream: Duplex | undefined;
  readonly #frames = new FrameReader({
    maxPayload: MAX_FRAME_PAYLOAD,
    helloType: FrameType.HELLO,
    onNotHello: (stray) => {
      // Not the relay talking: what Docker or a shell printed instead is the useful message.
      this.#strayOutput.keep(stray);
      this.#fail(new Error(`The loopback relay for ${this.#label} did not start: ${this.#startFailureDetail()}`));
    },
    onOversize: (length) =>
      this.#fail(new Error(`The loopback relay for ${this.#label} sent a frame of ${length} bytes (at most ${MAX_FRAME_PAYLOAD} allowed); something in the sandbox tampered with it.`)),
    onFrame: (type, id, payload) => {
      this.#onFrame(type, id, payload);
      return !this.#finished;
    },
  });
  #helloSeen = false;
  #listening = false;
  #closing: Promise<void> | undefined;
  #finished = false;
  #startTimer: NodeJS.Timeout | undefined;
  #resolveEnded: (error: Error | undefined) => void = () => undefined;
  #resolveReady: () => void = () => undefined;
  #rejectReady: (error: Error) => void = () => undefined;

  constructor(options: LoopbackTunnelOptions) {
    this.#options = options;
    this.#label = `127.0.0.1:${options.port} in the sandbox${options.label ? ` of session ${options.label}` : ''}`;
    this.ended = new Promise((resolve) => {
      this.#resolveEnded = resolve;
    });
    this.ready = new Promise((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    // Whoever awaits only `ended` must not see `ready`'s rejection reported as unhandled.
    this.ready.catch(() => undefined);
  }

  async start(): Promise<void> {
    const { docker, container } = this.#options;
    const exec = await container.exec({
      Cmd: [this.#options.node ?? 'node', '-e', RELAY_SCRIPT, String(this.#options.port)],
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      User: this.#options.user,
      WorkingDir: '/',
      Env: this.#options.env ?? [],
    });
    this.#exec = exec;
    const stream = (await exec.start({ hijack: true, stdin: true })) as Duplex;
    this.#stream = stream;
    const frames = new Writable({
      write: (chunk: Buffer, _encoding, callback) => {
        this.#receive(chunk);
        callback();
      },
    });
    docker.modem.demuxStream(stream, frames, this.#stderr);
    stream.on('drain', () => this.#drained());
    let streamEnded = false;
    const onStreamEnd = (error?: Error) => {
      if (streamEnded) return;
      streamEnded = true;
      void this.#onStreamEnd(error);
    };
    stream.once('end', () => onStreamEnd());
    stream.once('close', () => onStreamEnd());
    stream.on('error', (error: Error) => onStreamEnd(error));
    this.#startTimer = setTimeout(() => {
      this.#fail(new Error(`The loopback relay for ${this.#label} did not start listening within ${this.#startTimeoutMs() / 1000}s.`));
    }, this.#startTimeoutMs());
    await this.ready;
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#finished) return;
      this.#destroyConnections();
      // The relay exits when its stdin ends; the kill is for one that does not (hung, stopped).
      this.#stream?.end();
      this.#options.kill();
      const gone = await Promise.race([
        this.ended.then(() => true),
        new Promise<false>((resolve) => setTimeout(() => resolve(false), CLOSE_GRACE_MS).unref()),
      ]);
      if (!gone) this.#stream?.destroy();
      this.#finish(undefined);
    })();
    return this.#closing;
  }

  send(type: number, id: number, payload?: Buffer): boolean {
    const stream = this.#stream;
    if (!stream || this.#finished || stream.destroyed || stream.writableEnded) return true;
    return stream.write(encodeFrame(type, id, payload));
  }

  whenDrained(callback: () => void): void {
    if (this.#finished) callback();
    else this.#drainWaiters.push(callback);
  }

  forget(id: number): void {
    this.#connections.delete(id);
  }

  #startTimeoutMs(): number {
    return this.#options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  }

  #drained(): void {
    const waiters = this.#drainWaiters.splice(0);
    for (const waiter of waiters) waiter();
  }

  #receive(chunk: Buffer): void {
    if (this.#finished) return;
    this.#frames.push(chunk);
  }

  #onFrame(type: number, id: number, payload: Buffer): void {
    switch (type) {
      case FrameType.HELLO: {
        if (this.#helloSeen) return;
        this.#helloSeen = true;
        if (payload[0] !== LOOPBACK_PROTOCOL_VERSION) {
          this.#fail(new Error(`The loopback relay for ${this.#label} speaks protocol version ${payload[0]}, not ${LOOPBACK_PROTOCOL_VERSION}.`));
        }
        return;
      }
      case FrameType.LISTENING:
        if (this.#listening) return;
        this.#listening = true;
        clearTimeout(this.#startTimer);
        this.#resolveReady();
        return;
      case FrameType.LISTEN_ERROR: {
        if (this.#listening) return;
        const message = payload.toString('utf8');
        const hint = message.startsWith('EADDRINUSE')
          ? ': something in the sandbox already listens on that port; stop it or use another port'
          : '';
        this.#fail(new Error(`Could not listen on ${this.#label} (${message})${hint}.`));
        return;
      }
      case FrameType.OPEN:
        this.#open(id);
        return;
      default:
        break;
    }
    const connection = this.#connections.get(id);
    // A connection the server already closed, or noise: nothing to do.
    if (!connection) return;
    if (type === FrameType.DATA) {
      if (!connection.receiveData(payload)) {
        this.#fail(new Error(`The loopback relay for ${this.#label} sent past its flow-control window; something in the sandbox tampered with it.`));
      }
    } else if (type === FrameType.END) {
      connection.receiveEnd();
    } else if (type === FrameType.CLOSE) {
      connection.receiveClose();
    } else if (type === FrameType.ACK && payload.length === 4) {
      connection.receiveAck(payload.readUInt32BE(0));
    }
  }

  #open(id: number): void {
    if (!this.#listening || this.#closing || this.#connections.has(id) || this.#connections.size >= MAX_CONNECTIONS) {
      this.send(FrameType.CLOSE, id);
      return;
    }
    const connection = new LoopbackConnection(id, this);
    this.#connections.set(id, connection);
    try {
      this.#options.onConnection(connection);
    } catch (error) {
      this.#options.logger?.warn({ err: error, port: this.#options.port }, 'loopback connection handler threw; connection closed');
      connection.destroy();
    }
  }

  async #onStreamEnd(error?: Error): Promise<void> {
    if (this.#finished || this.#closing) {
      this.#finish(undefined);
      return;
    }
    const exitCode = this.#exec ? await execExitCode(this.#exec).catch(() => undefined) : undefined;
    if (!this.#listening) {
      this.#fail(new Error(`The loopback relay for ${this.#label} did not start: ${this.#startFailureDetail(exitCode)}`));
      return;
    }
    const parts = [exitCode === undefined ? 'its exit code is unknown' : `exit code ${exitCode}`];
    const stderr = this.#stderr.text();
    if (stderr) parts.push(stderr);
    if (error) parts.push(error.message);
    const detail = `The loopback relay for ${this.#label} ended unexpectedly (${parts.join('; ')}); connections to it now fail.`;
    const explained = this.#options.explainEnd ? await this.#options.explainEnd(detail).catch(() => new Error(detail)) : new Error(detail);
    this.#fail(explained);
  }

  #startFailureDetail(exitCode?: number): string {
    const output = [this.#strayOutput.text(), this.#stderr.text()].filter(Boolean).join('; ');
    const notFound = exitCode === 126 || exitCode === 127 || /executable file not found|no such file/i.test(output);
    const hint = notFound ? ' The sandbox image needs `node` on its PATH: build it from sandbox/Dockerfile.' : '';
    const code = exitCode === undefined ? '' : `exit code ${exitCode}`;
    return `${[code, output].filter(Boolean).join(': ') || 'it ended without a word'}.${hint}`;
  }

  /** Ends the service with an error: the relay is killed, connections dropped, `ended` settled. */
  #fail(error: Error): void {
    if (this.#finished) return;
    this.#rejectReady(error);
    this.#stream?.destroy();
    this.#finish(error, this.#options.kill());
  }

  /** `relayGone`: settles once the relay's processes are killed; `ended` waits for it. */
  #finish(error: Error | undefined, relayGone?: Promise<void> | void): void {
    if (this.#finished) return;
    this.#finished = true;
    clearTimeout(this.#startTimer);
    this.#destroyConnections();
    this.#drained();
    this.#frames.clear();
    if (error) this.#options.logger?.warn({ err: error, port: this.#options.port }, 'sandbox loopback service ended');
    // Once `ended` settles nothing listens on the port any more, not even a relay being killed.
    void Promise.resolve(relayGone)
      .catch(() => undefined)
      .then(() => this.#resolveEnded(error));
  }

  #destroyConnections(): void {
    for (const connection of [...this.#connections.values()]) connection.destroy();
    this.#connections.clear();
  }
}

/**
 * Serves 127.0.0.1:`port` inside a sandbox through one `docker exec` of the relay: resolves once
 * the relay listens, rejects with the reason when it cannot (port taken, no node in the image).
 */
export async function openLoopbackTunnel(options: LoopbackTunnelOptions): Promise<LoopbackService> {
  if (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535) {
    throw new Error(`serveLoopbackPort needs a TCP port between 1 and 65535 (got ${options.port})`);
  }
  const tunnel = new LoopbackTunnel(options);
  try {
    await tunnel.start();
  } catch (error) {
    await tunnel.close().catch(() => undefined);
    throw error;
  }
  return { close: () => tunnel.close(), ended: tunnel.ended };
}
