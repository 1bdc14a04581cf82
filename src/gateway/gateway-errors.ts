import type { ServerResponse } from 'node:http';

/** Whose error shape a refusal takes: the SDK on the other side reads its own provider's. */
export type ErrorShape = 'anthropic' | 'openai';

const ANTHROPIC_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
};

const OPENAI_CODES: Record<number, string> = {
  401: 'invalid_api_key',
  403: 'permission_denied',
  404: 'not_found',
  413: 'request_too_large',
};

/** The body the provider itself would send for this status, so SDKs surface `message` as is. */
export function errorBody(shape: ErrorShape, status: number, message: string): unknown {
  if (shape === 'anthropic') {
    return { type: 'error', error: { type: ANTHROPIC_TYPES[status] ?? 'api_error', message } };
  }
  const type = status >= 500 ? 'server_error' : 'invalid_request_error';
  return { error: { message, type, param: null, code: OPENAI_CODES[status] ?? null } };
}

/**
 * Answers with the gateway's own error. Only 502 (the provider was unreachable) is left for the
 * SDKs to retry: retrying a refusal, a missing key or a bad token cannot succeed, and both SDKs
 * honour `x-should-retry`.
 */
export function sendGatewayError(res: ServerResponse, shape: ErrorShape, status: number, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(errorBody(shape, status, message));
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'x-should-retry': status === 502 ? 'true' : 'false',
  });
  res.end(text);
}
