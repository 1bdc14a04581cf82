/**
 * The frame layout shared by the programs TeleCoder runs inside a sandbox over one `docker exec`
 * stream (the loopback relay, the command executor): a type byte, a 32-bit connection or call id
 * and a 32-bit payload length, then the payload. The server's side is the code below; the
 * programs' side is SANDBOX_FRAMES_JS, which their scripts include.
 */
export const FRAME_HEADER_BYTES = 9;

/**
 * The frame code of a program run inside the sandbox, as script text: `send(type, id, payload)`
 * writes a frame to `out` (the script's stdout), and `readFrames(maxPayload, onFrame)` reads
 * frames from stdin, calling the script's own `die` on one past `maxPayload`.
 */
export const SANDBOX_FRAMES_JS = `
const HEADER = ${FRAME_HEADER_BYTES};
function send(type, id, payload) {
  const length = payload ? payload.length : 0;
  const header = Buffer.allocUnsafe(HEADER);
  header.writeUInt8(type, 0);
  header.writeUInt32BE(id, 1);
  header.writeUInt32BE(length, 5);
  out.write(length ? Buffer.concat([header, payload]) : header);
}
function readFrames(maxPayload, onFrame) {
  let pending = Buffer.alloc(0);
  process.stdin.on('data', (chunk) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    let o = 0;
    while (pending.length - o >= HEADER) {
      const length = pending.readUInt32BE(o + 5);
      if (length > maxPayload) die('frame too large');
      if (pending.length - o - HEADER < length) break;
      onFrame(pending[o], pending.readUInt32BE(o + 1), pending.subarray(o + HEADER, o + HEADER + length));
      o += HEADER + length;
    }
    pending = pending.subarray(o);
  });
}
`;

/** One frame as bytes, ready to write. */
export function encodeFrame(type: number, id: number, payload?: Buffer): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt8(type, 0);
  header.writeUInt32BE(id, 1);
  header.writeUInt32BE(payload?.length ?? 0, 5);
  return payload?.length ? Buffer.concat([header, payload]) : header;
}

export interface FrameReaderOptions {
  /** The largest payload the other side may send; a larger one is tampering. */
  maxPayload: number;
  /** The first frame must be of this type; anything else is not the program talking (Docker's or a shell's words). */
  helloType: number;
  /** The bytes that came instead of the hello, from where they started. */
  onNotHello(stray: Buffer): void;
  onOversize(length: number): void;
  /** A whole frame; return false to stop reading (the service ended). */
  onFrame(type: number, id: number, payload: Buffer): boolean;
}

/** Cuts a byte stream into frames, holding back only an unfinished one. */
export class FrameReader {
  readonly #options: FrameReaderOptions;
  #pending: Buffer = Buffer.alloc(0);
  #helloSeen = false;
  #stopped = false;

  constructor(options: FrameReaderOptions) {
    this.#options = options;
  }

  get helloSeen(): boolean {
    return this.#helloSeen;
  }

  push(chunk: Buffer): void {
    if (this.#stopped) return;
    this.#pending = this.#pending.length > 0 ? Buffer.concat([this.#pending, chunk]) : chunk;
    let offset = 0;
    while (this.#pending.length - offset >= FRAME_HEADER_BYTES) {
      const type = this.#pending[offset]!;
      const id = this.#pending.readUInt32BE(offset + 1);
      const length = this.#pending.readUInt32BE(offset + 5);
      if (!this.#helloSeen && type !== this.#options.helloType) return this.#stop(() => this.#options.onNotHello(this.#pending.subarray(offset)));
      if (length > this.#options.maxPayload) return this.#stop(() => this.#options.onOversize(length));
      if (this.#pending.length - offset - FRAME_HEADER_BYTES < length) break;
      const payload = this.#pending.subarray(offset + FRAME_HEADER_BYTES, offset + FRAME_HEADER_BYTES + length);
      offset += FRAME_HEADER_BYTES + length;
      this.#helloSeen = true;
      if (!this.#options.onFrame(type, id, payload)) return this.#stop(() => undefined);
    }
    this.#pending = this.#pending.subarray(offset);
  }

  /** Drops what is held (the stream ended). */
  clear(): void {
    this.#pending = Buffer.alloc(0);
  }

  #stop(then: () => void): void {
    this.#stopped = true;
    then();
    this.#pending = Buffer.alloc(0);
  }
}
