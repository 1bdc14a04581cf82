import type { IncomingMessage, ServerResponse } from 'node:http';
import { Probot, ProbotOctokit, Server, type ApplicationFunction } from 'probot';
import { isLoopbackHost } from '../config/config.js';
import type { Logger } from '../logger.js';
import { freePort } from './free-port.js';
import { addressInUseError, ensureAddressFree } from './ensure-address-free.js';
import { probotLogger } from './probot-logger.js';
import { createGitHubAppSetupHandler } from './github-app-setup.js';
import { loadProbotSetupParts } from './probot-setup-parts.js';
import { createRequestOriginGuard } from './request-origin-guard.js';
import { SETUP_LINK_PATH, SetupAccess } from './setup-access.js';
import { refuseOversizedWebhook } from './webhook-size-guard.js';
import type { GitHubWriteLimiter } from '../github/github-write-limiter.js';
import { probotOctokitWith } from '../github/app/probot-octokit-with.js';

/** A Probot request handler: resolves true when it answered the request. */
export type Handler = Parameters<Server['addHandler']>[0];

/**
 * Probot whose webhook middleware first runs `guards` (Host/Origin, setup access) and refuses
 * oversized deliveries. Probot's server always puts this middleware before every other handler
 * (ping, static files, the API, the setup pages), so what must run first has to live inside it.
 */
function guardedProbot(guards: Handler[]) {
  return class GuardedProbot extends Probot {
    override async getNodeMiddleware(options: Parameters<Probot['getNodeMiddleware']>[0] = {}) {
      const inner = await super.getNodeMiddleware(options);
      const path = options.path ?? this.webhookPath;
      return async (req: IncomingMessage, res?: ServerResponse, next?: Function) => {
        if (res !== undefined) {
          for (const guard of guards) if (await guard(req, res)) return true;
          if (refuseOversizedWebhook(req, res, path)) return true;
        }
        return inner(req, res, next);
      };
    }
  };
}

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
  /** Spaces the App's content-creating requests (reactions, comments) with every other GitHub write. */
  githubWriteLimiter?: GitHubWriteLimiter | undefined;
  /** The GitHub App's handlers; loaded only when appId and privateKey are set. */
  app?: ApplicationFunction | undefined;
  /** TELECODER_API_TOKEN: the setup pages require it whenever it is set (the API checks it itself). */
  apiToken?: string | undefined;
  /** TELECODER_PUBLIC_URL: an address besides the listening one that requests may name. */
  publicUrl?: string | undefined;
  /**
   * Setup mode (no keys): stores a registered App's keys and returns where (TeleCoder: the data
   * dir's github-app.env). The setup pages are served only when it is given.
   */
  saveAppCredentials?: ((values: Record<string, string>) => string) | undefined;
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

/**
 * One HTTP server for GitHub webhooks (Probot) and the TeleCoder API. With GitHub App keys the
 * app's handlers are loaded with the real webhook secret; without them Probot gets placeholder
 * credentials and TeleCoder serves the setup pages at /probot (see SetupAccess for who may), and
 * the API, the CLI and local mode still work. Every request first passes the Host/Origin guard.
 *
 * Building and listening are separate so that the Probot instance exists (for reporters that
 * authenticate as an installation) before the engine starts and before any request arrives.
 */
export async function createHttpServer(options: HttpServerOptions): Promise<PreparedHttpServer> {
  const port = options.port === 0 ? await freePort(options.host) : options.port;
  // Before Probot's server sees the port: its own message would tell the user to set PORT.
  if (options.port !== 0) await ensureAddressFree(options.host, port);
  const log = probotLogger(options.logger);
  const appConfigured = Boolean(options.appId && options.privateKey);
  const webhookPath = options.webhookPath ?? '/api/github/webhooks';
  const setupAccess =
    !appConfigured && options.saveAppCredentials
      ? new SetupAccess({ apiToken: options.apiToken, loopback: isLoopbackHost(options.host), webhookPath })
      : undefined;
  const guards: Handler[] = [
    createRequestOriginGuard({ listenHost: options.host, port, publicUrl: options.publicUrl, webhookPath }),
    ...(setupAccess ? [setupAccess.guard] : []),
  ];
  const server = new Server({
    host: options.host,
    port,
    log,
    // Probot's images and stylesheet, for the setup pages only (behind the same guard).
    enableStaticFiles: setupAccess !== undefined,
    ...(options.webhookPath ? { webhookPath: options.webhookPath } : {}),
    ...(appConfigured && options.webhookProxyUrl ? { webhookProxy: options.webhookProxyUrl } : {}),
    Probot: guardedProbot(guards).defaults({
      appId: appConfigured ? options.appId : 1,
      privateKey: appConfigured ? options.privateKey : 'placeholder: no GitHub App configured',
      secret: options.webhookSecret ?? 'development',
      log,
      ...(options.githubApiUrl && options.githubApiUrl !== 'https://api.github.com' ? { baseUrl: options.githubApiUrl } : {}),
      // One queue spaces the writes of every installation and of the git provider (Octokit's own
      // spacing is per client id, and Probot's webhook clients all share one id).
      ...(options.githubWriteLimiter ? { Octokit: probotOctokitWith(options.githubWriteLimiter) } : {}),
    }),
  });
  for (const handler of options.handlers) server.addHandler(handler);

  let probot: Probot | undefined;
  if (appConfigured) {
    await server.load(async (instance, loadOptions) => {
      probot = instance;
      await options.app?.(instance, loadOptions);
    });
  } else if (setupAccess && options.saveAppCredentials) {
    server.addHandler(
      createGitHubAppSetupHandler({
        parts: await loadProbotSetupParts(),
        access: setupAccess,
        saveAppCredentials: options.saveAppCredentials,
        publicUrl: options.publicUrl,
        webhookPath,
        webhookProxyUrl: options.webhookProxyUrl,
        githubApiUrl: options.githubApiUrl,
        logger: options.logger,
      }),
    );
    // Probot's own setup mode says custom routes will not work; here they do, so say what does.
    const base = options.publicUrl ?? `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`;
    options.logger.info(
      'GitHub App not configured: GitHub webhooks are off; the API, the CLI and local repositories work. ' +
        (options.apiToken
          ? `To set the App up from a browser, POST ${base}${SETUP_LINK_PATH} with the API token and open the link it returns`
          : `Set it up at ${base}/probot (from this machine)`),
    );
  }

  return {
    server,
    probot,
    async listen() {
      const httpServer = await server.start().catch((error: NodeJS.ErrnoException) => {
        // Taken between the check above and now (or by port 0's race): say so as the check would.
        throw error.code === 'EADDRINUSE' ? addressInUseError(options.host, port, error) : error;
      });
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
