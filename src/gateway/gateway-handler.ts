import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../logger.js';
import { sendGatewayError, type ErrorShape } from './gateway-errors.js';
import type { GrantRegistry, LiveGrant } from './gateway-grants.js';
import { forwardedRequestHeaders } from './gateway-headers.js';
import { matchRoute, ROUTE_LIST, shapeOf, type GatewayRoute, type Provider } from './gateway-routes.js';
import { forwardRequest, type ForwardOutcome } from './forward-request.js';
import { readRequestBody } from './read-request-body.js';

export const GATEWAY_BODY_LIMIT_BYTES = 32 * 1024 * 1024;

export interface GatewayProviders {
  /** ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL (default https://api.anthropic.com). */
  anthropic?: { apiKey: string; baseUrl?: string };
  /** OPENAI_API_KEY and OPENAI_BASE_URL (default https://api.openai.com/v1); a local server needs no key. */
  openai?: { apiKey?: string; baseUrl?: string };
}

export interface GatewayHandlerOptions {
  providers: GatewayProviders;
  /** TELECODER_ALLOWED_MODELS; empty or absent lets any model through. */
  allowedModels?: readonly string[];
  logger: Logger;
  fetch: typeof fetch;
  grants: GrantRegistry;
  /** The session whose tunnel a connection came through. */
  sessionOf(socket: Duplex): string | undefined;
}

interface Upstream {
  baseUrl: string;
  apiKey: string | undefined;
}

function upstreamOf(providers: GatewayProviders, provider: Provider): Upstream | undefined {
  if (provider === 'anthropic') {
    const config = providers.anthropic;
    if (!config?.apiKey) return undefined;
    return { baseUrl: (config.baseUrl ?? 'https://api.anthropic.com').replace(/\/+$/, ''), apiKey: config.apiKey };
  }
  const config = providers.openai;
  if (!config?.apiKey && !config?.baseUrl) return undefined;
  return { baseUrl: (config.baseUrl ?? 'https://api.openai.com/v1').replace(/\/+$/, ''), apiKey: config.apiKey || undefined };
}

const MISSING_KEY: Record<Provider, string> = {
  anthropic: 'the TeleCoder server holds no Anthropic key: set ANTHROPIC_API_KEY on the server, or run an agent that speaks the OpenAI API',
  openai:
    'the TeleCoder server holds no OpenAI key: set OPENAI_API_KEY (or OPENAI_BASE_URL for a local OpenAI-compatible server) on the server, or run an agent that speaks the Anthropic API',
};

/** A base URL fit for a message: any user:password and query (where a key could hide) left out. */
function shownUrl(baseUrl: string): string {
  try {
    const url = new URL(baseUrl);
    return `${url.protocol}//${url.host}${url.pathname}`;
  } catch {
    return 'the configured base URL';
  }
}

/** The session token, sent the way SDKs send keys: `x-api-key` (Anthropic) or a bearer token. */
function presentedTokens(req: IncomingMessage): string[] {
  const tokens: string[] = [];
  const apiKey = req.headers['x-api-key'];
  if (typeof apiKey === 'string' && apiKey !== '') tokens.push(apiKey);
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  if (bearer?.[1]) tokens.push(bearer[1]);
  return tokens;
}

type JsonObject = Record<string, unknown>;

function parseJsonObject(body: Buffer): JsonObject | undefined {
  try {
    const value: unknown = JSON.parse(body.toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as JsonObject) : undefined;
  } catch {
    return undefined;
  }
}

/** What the log line of one request says; never a prompt, an answer or a key. */
interface RequestLog {
  sessionId: string | undefined;
  route: string;
  model?: string;
  status?: number;
  inputTokens?: number;
  outputTokens?: number;
  refused?: string;
  error?: string;
}

/**
 * Serves one request that came through a sandbox tunnel: checks the session's token, the route,
 * the body, the allowed models and the grant's refusal, then forwards it with the real key and
 * streams the answer back, counting its usage. One info line per request.
 */
export function createGatewayHandler(options: GatewayHandlerOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const allowed = options.allowedModels && options.allowedModels.length > 0 ? new Set(options.allowedModels) : undefined;

  async function serve(req: IncomingMessage, res: ServerResponse, log: RequestLog): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://gateway.invalid');
    const shape: ErrorShape = shapeOf(url.pathname);
    const fail = (status: number, message: string) => {
      log.status = status;
      sendGatewayError(res, shape, status, message);
    };

    const sessionId = log.sessionId;
    let grant: LiveGrant | undefined;
    for (const token of presentedTokens(req)) {
      grant = sessionId === undefined ? undefined : options.grants.find(sessionId, token);
      if (grant) break;
    }
    if (!grant) {
      req.resume();
      fail(401, 'invalid or revoked gateway token: send the session token the sandbox was given as x-api-key or "Authorization: Bearer"');
      return;
    }

    const route: GatewayRoute | undefined = matchRoute(req.method, url.pathname);
    if (!route) {
      req.resume();
      fail(404, `the LLM gateway has no route for ${req.method} ${url.pathname}; it serves ${ROUTE_LIST}`);
      return;
    }
    log.route = route.name;
    const upstream = upstreamOf(options.providers, route.provider);
    if (!upstream) {
      req.resume();
      fail(503, MISSING_KEY[route.provider]);
      return;
    }

    let body: Buffer | undefined;
    let model: string | undefined;
    if (route.method === 'POST') {
      const read = await readRequestBody(req, GATEWAY_BODY_LIMIT_BYTES);
      if (!read.ok) {
        fail(read.status, read.message);
        return;
      }
      const json = parseJsonObject(read.body);
      if (!json) {
        fail(400, 'the request body must be a JSON object');
        return;
      }
      if (typeof json.model === 'string') model = json.model;
      if (model !== undefined) log.model = model;
      if (allowed && (model === undefined || !allowed.has(model))) {
        const named = model === undefined ? 'a request that names no model' : `model "${model}"`;
        fail(403, `${named} is not allowed on this server; TELECODER_ALLOWED_MODELS allows ${[...allowed].join(', ')}`);
        return;
      }
      // Usage of a streamed chat completion is only reported when asked for.
      if (route.usage === 'chat-completions' && json.stream === true) {
        const streamOptions = json.stream_options !== null && typeof json.stream_options === 'object' ? json.stream_options : {};
        json.stream_options = { ...streamOptions, include_usage: true };
        body = Buffer.from(JSON.stringify(json));
      } else {
        body = read.body;
      }
    }

    // The grant may have ended while the body was arriving.
    if (grant.revoked) {
      fail(401, 'the gateway token was revoked: the session has ended');
      return;
    }
    const reason = grant.options.refusal();
    if (reason !== null) {
      log.refused = reason;
      // 403, not 429: the SDKs retry a 429, and this refusal will not lift.
      fail(403, `TeleCoder refused this request: ${reason}`);
      grant.options.onRefused?.(reason);
      return;
    }

    // A client that hung up while its body was read needs no answer, and the provider no request.
    if (res.destroyed) {
      log.error = 'the client closed the connection';
      return;
    }
    const abort = new AbortController();
    const release = grant.track(abort, req.socket);
    res.once('close', () => {
      if (!res.writableFinished) abort.abort(new Error('the client closed the connection'));
    });
    let outcome: ForwardOutcome;
    try {
      const headers = forwardedRequestHeaders(req.headers, route.provider, upstream.apiKey);
      if (body) headers['content-type'] = 'application/json';
      outcome = await forwardRequest({
        fetch: options.fetch,
        url: `${upstream.baseUrl}${route.upstreamPath}${url.search}`,
        method: route.method,
        headers,
        ...(body ? { body } : {}),
        signal: abort.signal,
        usage: route.usage,
        res,
      });
    } finally {
      release();
    }

    if (outcome.kind === 'unreachable') {
      log.error = outcome.reason;
      fail(502, `the LLM gateway could not reach ${route.provider} at ${shownUrl(upstream.baseUrl)}: ${outcome.reason}`);
      return;
    }
    log.status = outcome.status;
    if (outcome.kind === 'cut') {
      log.error = outcome.reason;
      // Whatever cut it (a revoke, a hang-up, the provider), the client must not wait on a half answer.
      if (!res.writableEnded) res.destroy();
    }
    const usage = outcome.usage;
    if (usage) {
      log.inputTokens = usage.inputTokens;
      log.outputTokens = usage.outputTokens;
      if (usage.model) log.model = usage.model;
    }
    // The session's accounts close with its grant; what a revoked grant still reports is not added.
    if (usage && !grant.revoked) {
      try {
        grant.options.onUsage({
          model: usage.model ?? model ?? 'unknown',
          inputTokens: usage.inputTokens,
          outputTokens: usage.outputTokens,
        });
      } catch (error) {
        // The answer is already with the client; a failing callback is the session's problem, logged.
        options.logger.error({ err: error, sessionId }, 'LLM gateway: onUsage failed');
      }
    }
  }

  return (req, res) => {
    const started = Date.now();
    const log: RequestLog = {
      sessionId: options.sessionOf(req.socket),
      route: `${req.method ?? '?'} ${(req.url ?? '/').split('?')[0]}`,
    };
    serve(req, res, log)
      .catch((error: unknown) => {
        log.error = error instanceof Error ? error.message : String(error);
        if (!res.headersSent) {
          log.status = 500;
          sendGatewayError(res, shapeOf(req.url ?? '/'), 500, 'the LLM gateway failed on this request; see the server log');
        } else {
          res.destroy();
        }
      })
      .finally(() => {
        options.logger.info({ ...log, ms: Date.now() - started }, 'LLM gateway request');
      });
  };
}
