import type { ServerResponse } from 'node:http';
import { returnedResponseHeaders } from './gateway-headers.js';
import type { UsageApi } from './gateway-routes.js';
import { createUsageMeter, type MeteredUsage } from './usage-meter.js';

export interface ForwardInput {
  fetch: typeof fetch;
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: Buffer;
  /** Aborted when the grant is revoked or the client hangs up. */
  signal: AbortSignal;
  usage: UsageApi;
  res: ServerResponse;
}

export type ForwardOutcome =
  /** The provider answered and the whole answer reached the client. */
  | { kind: 'answered'; status: number; usage?: MeteredUsage }
  /** The answer was cut: the client hung up, the grant was revoked, or the provider broke off. */
  | { kind: 'cut'; status: number; usage?: MeteredUsage; reason: string }
  /** No answer came: the provider could not be reached. */
  | { kind: 'unreachable'; reason: string };

/** Resolves once the client has taken what was written, or is gone. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // fetch says only "fetch failed"; the reason (ECONNREFUSED 127.0.0.1:1, a DNS failure) is its cause.
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${error.message}${cause}`;
}

/**
 * Sends the request to the provider and streams its answer back as it arrives, with its status
 * and the headers SDKs read, reading the usage on the way. Nothing is buffered but what the client
 * has not taken yet (writes wait for it to drain).
 */
export async function forwardRequest(input: ForwardInput): Promise<ForwardOutcome> {
  const { res, signal } = input;
  let upstream: Response;
  try {
    upstream = await input.fetch(input.url, {
      method: input.method,
      headers: input.headers,
      ...(input.body ? { body: input.body } : {}),
      signal,
      redirect: 'manual',
    });
  } catch (error) {
    if (signal.aborted) return { kind: 'cut', status: 0, reason: describe(signal.reason) };
    return { kind: 'unreachable', reason: describe(error) };
  }

  const meter = input.usage ? createUsageMeter(input.usage, upstream.headers.get('content-type')) : undefined;
  const usage = () => meter?.result();
  res.writeHead(upstream.status, returnedResponseHeaders(upstream.headers));
  res.flushHeaders();
  if (!upstream.body) {
    res.end();
    return { kind: 'answered', status: upstream.status };
  }
  const reader = upstream.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      meter?.push(value);
      if (res.destroyed) break;
      if (!res.write(value)) await drained(res);
    }
  } catch (error) {
    res.destroy();
    const reason = signal.aborted ? describe(signal.reason) : `the provider broke off its answer (${describe(error)})`;
    return { kind: 'cut', status: upstream.status, usage: usage(), reason };
  }
  if (res.destroyed) {
    await reader.cancel().catch(() => undefined);
    return { kind: 'cut', status: upstream.status, usage: usage(), reason: 'the client closed the connection' };
  }
  res.end();
  return { kind: 'answered', status: upstream.status, usage: usage() };
}
