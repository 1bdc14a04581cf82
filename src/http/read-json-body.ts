import type { IncomingMessage } from 'node:http';
import { TeleCoderError } from '../errors.js';

export const DEFAULT_BODY_LIMIT_BYTES = 1024 * 1024;

export interface ReadJsonBodyOptions {
  /** Bodies larger than this are refused with 413; defaults to 1 MiB. */
  limitBytes?: number;
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}

function isJsonContentType(value: string | undefined): boolean {
  const type = value?.split(';')[0]?.trim().toLowerCase() ?? '';
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}

function tooLarge(limitBytes: number): TeleCoderError {
  return new TeleCoderError(
    `request body is larger than ${limitBytes} bytes; send a shorter prompt or message (the limit is 10,000 characters)`,
    413,
  );
}

/**
 * Reads a JSON request body of at most `limitBytes`. Resolves `undefined` when there is no body.
 * A body over the limit is refused as soon as the limit is crossed (or at once when Content-Length
 * says so): what was read is dropped and the rest is never buffered.
 */
export function readJsonBody(req: IncomingMessage, options: ReadJsonBodyOptions = {}): Promise<unknown> {
  const limitBytes = options.limitBytes ?? DEFAULT_BODY_LIMIT_BYTES;
  if (!hasBody(req)) return Promise.resolve(undefined);
  if (!isJsonContentType(req.headers['content-type'])) {
    return Promise.reject(
      new TeleCoderError(
        `request body must be JSON: send it with "Content-Type: application/json" (got "${req.headers['content-type'] ?? 'none'}")`,
        415,
      ),
    );
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limitBytes) return Promise.reject(tooLarge(limitBytes));

  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limitBytes) {
        cleanup();
        chunks.length = 0;
        // Keep the socket draining into nothing until the 413 is written and the socket closed.
        req.on('data', () => undefined);
        reject(tooLarge(limitBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') {
        resolve(undefined);
        return;
      }
      try {
        resolve(JSON.parse(text));
      } catch (error) {
        reject(new TeleCoderError(`request body is not valid JSON (${(error as Error).message}); send a JSON object`, 400));
      }
    };
    const onError = (error: Error) => {
      cleanup();
      reject(new TeleCoderError(`could not read the request body: ${error.message}`, 400));
    };
    const onAborted = () => onError(new Error('the client closed the connection'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}
