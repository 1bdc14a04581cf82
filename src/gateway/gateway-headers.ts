import type { IncomingHttpHeaders } from 'node:http';
import type { Provider } from './gateway-routes.js';

/**
 * Request headers an agent may pass on: the API's versions and betas, content negotiation, the
 * SDKs' telemetry and idempotency keys. An allow-list, so the client's credentials
 * (authorization, x-api-key, cookie), host and proxy headers never reach the provider.
 */
const REQUEST_HEADERS = new Set([
  'content-type',
  'accept',
  'anthropic-version',
  'anthropic-beta',
  'openai-beta',
  'user-agent',
  'idempotency-key',
  'x-client-request-id',
]);

/** Response headers worth returning: what the SDKs read for ids, retries and rate limits. */
const RESPONSE_HEADERS = new Set([
  'content-type',
  'cache-control',
  'request-id',
  'x-request-id',
  'retry-after',
  'retry-after-ms',
  'x-should-retry',
  'openai-processing-ms',
]);

export function forwardedRequestHeaders(
  incoming: IncomingHttpHeaders,
  provider: Provider,
  apiKey: string | undefined,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined) continue;
    if (REQUEST_HEADERS.has(name) || name.startsWith('x-stainless-')) {
      out[name] = Array.isArray(value) ? value.join(', ') : value;
    }
  }
  if (apiKey) {
    if (provider === 'anthropic') out['x-api-key'] = apiKey;
    else out.authorization = `Bearer ${apiKey}`;
  }
  return out;
}

/**
 * Headers of the provider's answer to pass back. Content-Length and Content-Encoding stay behind:
 * fetch has already decompressed the body, which goes on chunked.
 */
export function returnedResponseHeaders(upstream: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  upstream.forEach((value, name) => {
    if (RESPONSE_HEADERS.has(name) || name.startsWith('anthropic-ratelimit-') || name.startsWith('x-ratelimit-')) {
      out[name] = value;
    }
  });
  return out;
}
