import { PassThrough, Writable, type Duplex, type Readable } from 'node:stream';

/** Docker's frame header on an exec stream without a TTY: stream type, three zero bytes, payload length. */
const HEADER_BYTES = 8;
const STDOUT = 1;
const STDERR = 2;

/**
 * Splits Docker's multiplexed exec stream into stdout, handed on with backpressure (a frame is
 * acknowledged only once stdout has room, so a slow reader slows the command instead of the
 * server buffering its output), and stderr, of which the first `maxStderrBytes` are kept.
 * dockerode's own demuxStream ignores backpressure, which is fine for small output only.
 */
class ExecStreamDemux extends Writable {
  readonly #stdout: PassThrough;
  readonly #maxStderrBytes: number;
  readonly #stderr: Buffer[] = [];
  #stderrKept = 0;
  #header = Buffer.alloc(0);
  #remaining = 0;
  #type = 0;

  constructor(stdout: PassThrough, maxStderrBytes: number) {
    super();
    this.#stdout = stdout;
    this.#maxStderrBytes = maxStderrBytes;
  }

  stderr(): string {
    return Buffer.concat(this.#stderr).toString('utf8');
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    let full = false;
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#remaining === 0) {
        const needed = HEADER_BYTES - this.#header.length;
        this.#header = Buffer.concat([this.#header, chunk.subarray(offset, offset + needed)]);
        offset += Math.min(needed, chunk.length - offset);
        if (this.#header.length < HEADER_BYTES) break;
        this.#type = this.#header[0]!;
        this.#remaining = this.#header.readUInt32BE(4);
        this.#header = Buffer.alloc(0);
        continue;
      }
      const payload = chunk.subarray(offset, offset + this.#remaining);
      offset += payload.length;
      this.#remaining -= payload.length;
      if (this.#type === STDOUT) {
        // Nobody reads any more (the consumer gave up): what is left is dropped.
        if (!this.#stdout.destroyed && !this.#stdout.write(payload)) full = true;
      } else if (this.#type === STDERR && this.#stderrKept < this.#maxStderrBytes) {
        const kept = payload.subarray(0, this.#maxStderrBytes - this.#stderrKept);
        this.#stderr.push(Buffer.from(kept));
        this.#stderrKept += kept.length;
      }
    }
    if (!full || this.#stdout.destroyed) {
      callback();
      return;
    }
    const resume = () => {
      this.#stdout.off('drain', resume);
      this.#stdout.off('close', resume);
      callback();
    };
    this.#stdout.on('drain', resume);
    this.#stdout.on('close', resume);
  }
}

export type StreamOutcome =
  | { kind: 'ended' }
  | { kind: 'server-timeout' }
  | { kind: 'aborted' }
  /** The reader destroyed stdout before the command ended. */
  | { kind: 'abandoned' }
  | { kind: 'error'; error: Error };

export interface StreamedExecOutput {
  stdout: Readable;
  /** How the stream ended; stdout has been ended (or destroyed) by then. */
  outcome: Promise<StreamOutcome>;
  stderr(): string;
}

/**
 * Hands an attached exec stream's stdout on as a Readable. Whatever ends first decides the
 * outcome: the end of the output (once all of it was handed on), the server's deadline, an abort,
 * the reader giving up, or a transport error. On anything but the end, the Docker stream is cut
 * and stdout destroyed; the caller kills the command.
 */
export function streamExecOutput(options: { stream: Duplex; maxStderrBytes: number; timeoutMs: number; signal?: AbortSignal }): StreamedExecOutput {
  const { stream, signal } = options;
  const stdout = new PassThrough();
  const demux = new ExecStreamDemux(stdout, options.maxStderrBytes);
  // Errors after the outcome is decided (e.g. on destroy) must not go unhandled.
  stream.on('error', () => undefined);
  demux.on('error', () => undefined);

  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const outcome = new Promise<StreamOutcome>((resolve) => {
    // 'finish': the last frame was handed to stdout, which then ends once it is read.
    demux.once('finish', () => resolve({ kind: 'ended' }));
    stream.once('error', (error: Error) => resolve({ kind: 'error', error }));
    // Closed without an end: Docker cut the connection (the container went away).
    stream.once('close', () => {
      if (!stream.readableEnded) resolve({ kind: 'error', error: new Error('the exec stream closed before the command ended') });
    });
    stdout.once('close', () => {
      if (!stdout.writableFinished) resolve({ kind: 'abandoned' });
    });
    timer = setTimeout(() => resolve({ kind: 'server-timeout' }), options.timeoutMs);
    if (signal) {
      onAbort = () => resolve({ kind: 'aborted' });
      signal.addEventListener('abort', onAbort, { once: true });
      if (signal.aborted) onAbort();
    }
  }).then((decided) => {
    clearTimeout(timer);
    if (signal && onAbort) signal.removeEventListener('abort', onAbort);
    if (decided.kind === 'ended') {
      stdout.end();
    } else {
      stream.unpipe(demux);
      stream.destroy();
      const reason =
        decided.kind === 'error'
          ? decided.error
          : new Error(decided.kind === 'server-timeout' ? 'the command outlived its timeout' : decided.kind === 'aborted' ? 'The command was aborted' : 'stopped reading');
      if (!stdout.destroyed) stdout.destroy(reason);
    }
    return decided;
  });
  // Ends demux (and so 'finish') when Docker ends the stream; waits on demux when stdout is full.
  stream.pipe(demux);
  return { stdout, outcome, stderr: () => demux.stderr() };
}
