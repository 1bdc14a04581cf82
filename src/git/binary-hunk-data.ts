import { constants, inflateSync } from 'node:zlib';

/** git's base85 alphabet (base85.c), for the data lines of a `GIT binary patch` hunk. */
const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~';
const DIGIT = new Int8Array(128).fill(-1);
for (let index = 0; index < ALPHABET.length; index++) DIGIT[ALPHABET.charCodeAt(index)] = index;

/**
 * The bytes of one data line of a binary hunk: a length character (A-Z for 1-26 bytes, a-z for
 * 27-52) and then five base85 characters for every four bytes. Undefined when the line is not one.
 */
export function decodeBinaryHunkLine(line: string): Buffer | undefined {
  const first = line.charCodeAt(0);
  const length = first >= 65 && first <= 90 ? first - 64 : first >= 97 && first <= 122 ? first - 96 + 26 : 0;
  if (length === 0 || line.length - 1 !== Math.ceil(length / 4) * 5) return undefined;
  const out = Buffer.alloc(Math.ceil(length / 4) * 4);
  for (let group = 0; group * 5 < line.length - 1; group++) {
    let value = 0;
    for (let index = 1 + group * 5; index < 1 + group * 5 + 5; index++) {
      const code = line.charCodeAt(index);
      const digit = code < 128 ? DIGIT[code]! : -1;
      if (digit < 0) return undefined;
      value = value * 85 + digit;
    }
    if (value > 0xffffffff) return undefined;
    out.writeUInt32BE(value, group * 4);
  }
  return out.subarray(0, length);
}

/** Enough inflated bytes for the two size headers of a delta, and a cap on what a few lines may inflate to. */
const MAX_INFLATED = 1024 * 1024;

/**
 * The size of what a git binary delta produces, read from the start of the hunk's deflated data
 * (the delta begins with two base-128 sizes: the file it applies to, then the result). Undefined
 * until enough data has been given to read it, or when the data cannot be inflated.
 */
export function deltaResultSize(deflatedStart: Buffer): number | undefined {
  let inflated: Buffer;
  try {
    // Z_SYNC_FLUSH: inflate what is there, without requiring the end of the stream.
    inflated = inflateSync(deflatedStart, { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: MAX_INFLATED });
  } catch {
    return undefined;
  }
  let position = 0;
  const readSize = (): number | undefined => {
    let value = 0;
    for (let shift = 0; shift <= 49; shift += 7) {
      if (position >= inflated.length) return undefined;
      const byte = inflated[position++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return value;
    }
    // Larger than any file: report it as such rather than as unreadable.
    return Number.MAX_SAFE_INTEGER;
  };
  return readSize() === undefined ? undefined : readSize();
}
