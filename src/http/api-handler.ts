import type { IncomingMessage, ServerResponse } from 'node:http';
import Router from 'find-my-way';
import type { SessionService } from '../engine/session-service.js';
import { TeleCoderError } from '../errors.js';
import { createLogger, type Logger } from '../logger.js';
import type { TaskRequest } from '../model/session.js';
import { hasBearerToken, WWW_AUTHENTICATE } from './auth.js';
import { branchPruneToJson, type BranchService } from './branch-service.js';
import type { CacheService } from './cache-service.js';
import { DEFAULT_BODY_LIMIT_BYTES, readJsonBody } from './read-json-body.js';
import {
  createSessionBody,
  parseBody,
  parseEventId,
  parseLimit,
  pruneBranchesBody,
  pruneCachesBody,
  sendMessageBody,
} from './request-schemas.js';
import { sendError, sendJson } from './send-json.js';
import { messageToJson, repositoryCacheToJson, sessionToJson } from './session-json.js';
import { DEFAULT_HEARTBEAT_MS, DEFAULT_MAX_PENDING_BYTES, streamSessionEvents } from './sse-stream.js';
import { streamSessions } from './sessions-stream.js';
import { serverInfoToJson, type ServerInfo } from './server-info.js';
import type { EventBus } from '../events/event-bus.js';

/** A Probot server handler: resolves true when it answered the request, false to pass it on. */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;

export type { BranchService, CacheService };

export interface ApiHandlerOptions {
  service: SessionService;
  /** The per-repository caches (`/api/caches`); without it those routes answer 501. */
  caches?: CacheService | undefined;
  /** Local repositories' TeleCoder branches (`/api/repos/prune`); without it that route answers 501. */
  branches?: BranchService | undefined;
  /** When set, every /api/ route requires `Authorization: Bearer <apiToken>`. */
  apiToken?: string | undefined;
  logger?: Logger | undefined;
  /** Interval of the `: ping` comment on event streams; default 15 s. */
  heartbeatMs?: number;
  /** Default 1 MiB. */
  maxBodyBytes?: number;
  /** Bytes an event stream may queue for a slow client before it is ended; default 1 MiB. */
  maxPendingStreamBytes?: number;
  /** Every session's live events (`/api/sessions/stream`); without it that route answers 501. */
  bus?: Pick<EventBus, 'subscribeAll'> | undefined;
  /** Per-session throttle of `/api/sessions/stream`; default 250 ms. */
  sessionsStreamCoalesceMs?: number;
  /** What `/api/info` says about this server; without it that route answers 501. */
  info?: ServerInfo | undefined;
}

interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  query: URLSearchParams;
}

type Route = (context: RouteContext) => Promise<void> | void;

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

/** The REST + SSE API over a SessionService, mounted into Probot's server with `addHandler`. */
export function createApiHandler(options: ApiHandlerOptions): RequestHandler {
  const { service, apiToken } = options;
  // A 500 hides its cause from the client, so the cause must always reach a log.
  const logger = options.logger ?? createLogger();
  const limitBytes = options.maxBodyBytes ?? DEFAULT_BODY_LIMIT_BYTES;
  const router = Router({ ignoreTrailingSlash: true });
  const on = (method: (typeof METHODS)[number], path: string, route: Route) => router.on(method, path, () => undefined, route);

  const readBody = (req: IncomingMessage) => readJsonBody(req, { limitBytes });
  const id = (context: RouteContext) => context.params.id ?? '';

  on('GET', '/health', ({ res }) => sendJson(res, 200, { status: 'ok' }));

  on('POST', '/api/sessions', async ({ req, res }) => {
    const body = parseBody(createSessionBody, await readBody(req));
    const request: TaskRequest = {
      repo: body.repo,
      prompt: body.prompt,
      ...(body.mode ? { mode: body.mode } : {}),
      ...(body.agent ? { agent: body.agent } : {}),
      ...(body.model ? { model: body.model } : {}),
      origin: { kind: 'api' },
    };
    // The caller is waiting anyway: what would only fail later (no key, no token, not a
    // repository, no Docker) is answered now, and no session is stored for it.
    await service.preflight(request);
    const session = service.submit(request);
    sendJson(res, 201, { id: session.id, branch: session.branch, mode: session.mode });
  });

  on('GET', '/api/sessions', ({ res, query }) => {
    const limit = parseLimit(query.get('limit') ?? undefined);
    sendJson(res, 200, service.list(limit === undefined ? {} : { limit }).map(sessionToJson));
  });

  // find-my-way matches this static path before /api/sessions/:id (session ids are never "stream").
  on('GET', '/api/sessions/stream', ({ req, res }) => {
    if (!options.bus) {
      throw new TeleCoderError('this TeleCoder server has no live session feed: it was started without an event bus; pass `bus` to createApiHandler', 501);
    }
    streamSessions({
      req,
      res,
      service,
      bus: options.bus,
      heartbeatMs: options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS,
      maxPendingBytes: options.maxPendingStreamBytes ?? DEFAULT_MAX_PENDING_BYTES,
      coalesceMs: options.sessionsStreamCoalesceMs,
      logger,
    });
  });

  on('GET', '/api/info', ({ res }) => {
    if (!options.info) throw new TeleCoderError('this TeleCoder server was started without its server info; pass `info` to createApiHandler', 501);
    sendJson(res, 200, serverInfoToJson(options.info, service));
  });

  on('GET', '/api/sessions/:id', (context) => sendJson(context.res, 200, sessionToJson(service.get(id(context)))));

  on('GET', '/api/sessions/:id/events', (context) => {
    const { req, res, query } = context;
    const sessionId = id(context);
    service.get(sessionId);
    // The header wins: a browser reconnecting keeps the original URL, `?after=` included.
    const header = req.headers['last-event-id'];
    const afterId =
      typeof header === 'string' && header.trim() !== ''
        ? parseEventId('Last-Event-ID', header)
        : parseEventId('after', query.get('after') ?? undefined);
    streamSessionEvents({
      req,
      res,
      service,
      sessionId,
      afterId,
      heartbeatMs: options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS,
      maxPendingBytes: options.maxPendingStreamBytes ?? DEFAULT_MAX_PENDING_BYTES,
      logger,
    });
  });

  on('GET', '/api/sessions/:id/diff', async (context) => {
    const diff = await service.diff(id(context));
    context.res.writeHead(200, { 'content-type': 'text/x-diff; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
    context.res.end(diff);
  });

  on('GET', '/api/sessions/:id/messages', (context) =>
    sendJson(context.res, 200, service.messages(id(context)).map(messageToJson)),
  );

  on('POST', '/api/sessions/:id/messages', async (context) => {
    const body = parseBody(sendMessageBody, await readBody(context.req));
    sendJson(context.res, 202, messageToJson(service.sendMessage(id(context), body.content)));
  });

  on('POST', '/api/sessions/:id/pr', async (context) => {
    // No fields, but a body that is sent is held to the same rules as everywhere else.
    await readBody(context.req);
    const pr = await service.createPullRequest(id(context));
    sendJson(context.res, 201, {
      url: pr.url,
      number: pr.number,
      branch: pr.branch,
      ...(pr.draft ? { draft: true } : {}),
      ...(pr.heldBack ? { held_back: pr.heldBack } : {}),
      ...(pr.warning ? { warning: pr.warning } : {}),
    });
  });

  on('POST', '/api/sessions/:id/stop', async (context) => {
    await readBody(context.req);
    sendJson(context.res, 200, sessionToJson(await service.stop(id(context))));
  });

  const cacheService = (): CacheService => {
    if (options.caches) return options.caches;
    throw new TeleCoderError('this TeleCoder server does not manage repository caches (it was started without a cache service)', 501);
  };

  on('GET', '/api/caches', async ({ res }) => {
    sendJson(res, 200, (await cacheService().listCaches()).map(repositoryCacheToJson));
  });

  on('POST', '/api/caches/prune', async ({ req, res }) => {
    // No body (or an empty one) prunes every repository; a body is checked before anything is done.
    const raw = await readBody(req);
    const body = parseBody(pruneCachesBody, raw === undefined ? {} : raw);
    const result = await cacheService().pruneCaches(body.repos);
    sendJson(res, 200, {
      pruned: result.pruned,
      kept: result.kept.map(({ repo, reason }) => ({ repo, reason })),
    });
  });

  on('POST', '/api/repos/prune', async ({ req, res }) => {
    const body = parseBody(pruneBranchesBody, await readBody(req));
    if (!options.branches) {
      throw new TeleCoderError('this TeleCoder server does not manage repository branches (it was started without a branch service)', 501);
    }
    const result = await options.branches.pruneBranches(body.repo, {
      ...(body.dry_run ? { dryRun: true } : {}),
      ...(body.include_delivered ? { includeDelivered: true } : {}),
    });
    sendJson(res, 200, branchPruneToJson(result));
  });

  const allowedMethods = (path: string) => METHODS.filter((method) => router.find(method, path) !== null);

  const fail = (res: ServerResponse, error: unknown) => {
    if (res.headersSent) {
      logger.error({ err: error }, 'API request failed after its answer had started');
      res.destroy();
      return;
    }
    if (error instanceof TeleCoderError) {
      sendError(res, error.status, error.message, error.status === 413 ? { Connection: 'close' } : {});
      return;
    }
    logger.error({ err: error }, 'API request failed');
    sendError(res, 500, 'internal error in the TeleCoder server; the details are in its log');
  };

  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    const isApi = path === '/api' || path.startsWith('/api/');
    if (!isApi && path !== '/health' && path !== '/health/') return false;

    try {
      // Whether a token is needed, before any is sent: the dashboard asks first, so a browser
      // without a token never gets (and logs) a 401. It tells nothing else.
      if ((path === '/api/auth' || path === '/api/auth/') && (req.method ?? 'GET').toUpperCase() === 'GET') {
        sendJson(res, 200, { token_required: Boolean(apiToken) });
        return true;
      }
      if (isApi && apiToken && !hasBearerToken(req, apiToken)) {
        sendError(res, 401, 'this TeleCoder server requires an API token: send "Authorization: Bearer <TELECODER_API_TOKEN>" (the CLI: --token or TELECODER_API_TOKEN)', {
          'WWW-Authenticate': WWW_AUTHENTICATE,
        });
        return true;
      }
      const method = (req.method ?? 'GET').toUpperCase();
      const found = (METHODS as readonly string[]).includes(method)
        ? router.find(method as (typeof METHODS)[number], path)
        : null;
      if (!found) {
        const allowed = allowedMethods(path);
        if (allowed.length > 0) {
          sendError(res, 405, `${method} is not allowed on ${path}; use ${allowed.join(' or ')}`, { Allow: allowed.join(', ') });
        } else {
          sendError(res, 404, `no API route ${method} ${path}; see the README's "API" section for the routes`);
        }
        return true;
      }
      const params: Record<string, string> = {};
      for (const [key, value] of Object.entries(found.params)) if (value !== undefined) params[key] = value;
      await (found.store as Route)({ req, res, params, query: url.searchParams });
    } catch (error) {
      fail(res, error);
    }
    return true;
  };
}
