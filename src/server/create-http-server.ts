import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Probot, Server, type ApplicationFunction } from 'probot';
import type { Logger } from '../logger.js';
import { freePort } from './free-port.js';
import { refuseOversizedWebhook } from './webhook-size-guard.js';

/**
 * Probot whose webhook middleware first refuses oversized deliveries. Probot's server always
 * puts this middleware first, so the guard has to live inside it to run before the body is read.
 */
class GuardedProbot extends Probot {
  override async getNodeMiddleware(options: Parameters<Probot['getNodeMiddleware']>[0] = {}) {
    const inner = await super.getNodeMiddleware(options);
    const path = options.path ?? this.webhookPath;
    return async (req: IncomingMessage, res?: ServerResponse, next?: Function) =>
      (res !== undefined && refuseOversizedWebhook(req, res, path)) || inner(req, res, next);
  }
}

/** A Probot request handler: resolves true when it answered the request. */
export type Handler = Parameters<Server['addHandler']>[0];

export interface HttpServerOptions {
  host: string;
  port: number;
  logger: Logger;
  /** Extra handlers (the REST/SSE API) served on the same port as Probot's webhooks. */
  handlers: Handler[];
  appId?: string | undefined;
  privateKey?: string | undefined;
  webhookSecret?: string | undefined;
  /** Where GitHub POSTs webhooks; default /api/github/webhooks. */
  webhookPath?: string | undefined;
  /** A smee.io channel that forwards webhooks here (development). */
  webhookProxyUrl?: string | undefined;
  /** REST API base URL for GitHub Enterprise Server; GitHub.com when absent. */
  githubApiUrl?: string | undefined;
  /** The GitHub App's handlers; loaded only when appId and privateKey are set. */
  app?: ApplicationFunction | undefined;
  /**
   * Setup mode (no keys): where the manifest flow stores the new App's keys. Default Probot's
   * own, which writes ./.env and updates process.env.
   */
  updateEnv?: ((env: Record<string, string>) => Record<string, string>) | undefined;
}

/** The server, built and with its handlers loaded, not yet listening. */
export interface PreparedHttpServer {
  server: Server;
  /** The Probot instance the GitHub App runs in (installation auth for reporters); set with keys. */
  probot: Probot | undefined;
  listen(): Promise<RunningHttpServer>;
}

export interface RunningHttpServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

type SetupAppFactory = (options: {
  host: string;
  port: number;
  log: Logger;
  updateEnv?: (env: Record<string, string>) => Record<string, string>;
}) => () => Promise<Handler>;

/**
 * Probot's setup app (the manifest flow that registers a GitHub App from app.yml and writes its
 * keys to .env). Probot's package exports map exposes only its index, and `run()` in setup mode
 * would serve that page but never load our API handlers, so the module is imported by file URL
 * from the installed package.
 */
async function loadSetupAppFactory(): Promise<SetupAppFactory> {
  const require = createRequire(import.meta.url);
  // The exports map allows resolving the package's main file, whose directory is lib/.
  const libDir = dirname(require.resolve('probot'));
  const module = (await import(pathToFileURL(join(libDir, 'apps', 'setup.js')).href)) as { setupAppFactory?: SetupAppFactory };
  if (typeof module.setupAppFactory !== 'function') {
    throw new Error(`telecoder: the installed probot (${libDir}) has no lib/apps/setup.js setupAppFactory; reinstall probot 14`);
  }
  return module.setupAppFactory;
}

/**
 * One HTTP server for GitHub webhooks (Probot) and the TeleCoder API. With GitHub App keys the
 * app's handlers are loaded with the real webhook secret; without them Probot gets placeholder
 * credentials and serves its setup page at /probot, and the API, the CLI and local mode still work.
 *
 * Building and listening are separate so that the Probot instance exists (for reporters that
 * authenticate as an installation) before the engine starts and before any request arrives.
 */
export async function createHttpServer(options: HttpServerOptions): Promise<PreparedHttpServer> {
  const port = options.port === 0 ? await freePort(options.host) : options.port;
  const appConfigured = Boolean(options.appId && options.privateKey);
  const server = new Server({
    host: options.host,
    port,
    log: options.logger,
    enableStaticFiles: !appConfigured,
    ...(options.webhookPath ? { webhookPath: options.webhookPath } : {}),
    ...(appConfigured && options.webhookProxyUrl ? { webhookProxy: options.webhookProxyUrl } : {}),
    Probot: GuardedProbot.defaults({
      appId: appConfigured ? options.appId : 1,
      privateKey: appConfigured ? options.privateKey : 'placeholder: no GitHub App configured',
      secret: options.webhookSecret ?? 'development',
      log: options.logger,
      ...(options.githubApiUrl && options.githubApiUrl !== 'https://api.github.com' ? { baseUrl: options.githubApiUrl } : {}),
    }),
  });
  for (const handler of options.handlers) server.addHandler(handler);

  let probot: Probot | undefined;
  if (appConfigured) {
    await server.load(async (instance, loadOptions) => {
      probot = instance;
      await options.app?.(instance, loadOptions);
    });
  } else {
    const setupAppFactory = await loadSetupAppFactory();
    await server.loadHandlerFactory(
      setupAppFactory({
        host: options.host,
        port,
        log: options.logger,
        ...(options.updateEnv ? { updateEnv: options.updateEnv } : {}),
      }),
    );
  }

  return {
    server,
    probot,
    async listen() {
      const httpServer = await server.start();
      const host = server.host.includes(':') && !server.host.startsWith('[') ? `[${server.host}]` : server.host;
      return {
        url: `http://${host}:${server.port}`,
        server,
        close: async () => {
          const stopped = server.stop();
          // SSE streams never end on their own; clients reconnect with Last-Event-ID elsewhere.
          httpServer.closeAllConnections();
          await stopped;
        },
      };
    },
  };
}
