import type { IncomingMessage } from 'node:http';

export type BodyResult = { ok: true; body: Buffer } | { ok: false; status: 400 | 413; message: string };

/**
 * Reads a request body of at most `limitBytes`. Past the limit (or at once, when Content-Length
 * says so) it stops keeping what arrives and lets the rest drain into nothing, so the client, still
 * sending, gets to read the 413 instead of a reset connection.
 */
export function readRequestBody(req: IncomingMessage, limitBytes: number): Promise<BodyResult> {
  const tooLarge: BodyResult = {
    ok: false,
    status: 413,
    message: `the request body is larger than the gateway's limit of ${limitBytes / (1024 * 1024)} MiB`,
  };
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limitBytes) {
    req.resume();
    return Promise.resolve(tooLarge);
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const done = (result: BodyResult) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limitBytes) {
        chunks.length = 0;
        done(tooLarge);
        req.resume();
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => done({ ok: true, body: Buffer.concat(chunks) });
    const onError = (error: Error) =>
      done({ ok: false, status: 400, message: `could not read the request body: ${error.message}` });
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}
