/**
 * The frame layout shared by the programs TeleCoder runs inside a sandbox over one `docker exec`
 * stream (the loopback relay, the command executor): a type byte, a 32-bit connection or call id
 * and a 32-bit payload length, then the payload. Only the server's side lives here; each
 * program carries its own copy in the script it runs.
 */
export const FRAME_HEADER_BYTES = 9;

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
