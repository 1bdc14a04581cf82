import { Probot, Server } from 'probot';
import type { Logger } from '../logger.js';
import { freePort } from './free-port.js';

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
}

export interface RunningHttpServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/**
 * One HTTP server for GitHub webhooks (Probot) and the TeleCoder API. Without GitHub App keys
 * Probot gets placeholder credentials (as Probot's own setup mode does) so the API, the CLI and
 * local mode work with no App configured; no webhook handler is registered in that case.
 */
export async function createHttpServer(options: HttpServerOptions): Promise<RunningHttpServer> {
  const port = options.port === 0 ? await freePort(options.host) : options.port;
  const appConfigured = Boolean(options.appId && options.privateKey);
  const server = new Server({
    host: options.host,
    port,
    log: options.logger,
    enableStaticFiles: false,
    Probot: Probot.defaults({
      appId: appConfigured ? options.appId : 1,
      privateKey: appConfigured ? options.privateKey : 'placeholder: no GitHub App configured',
      secret: options.webhookSecret ?? 'development',
      log: options.logger,
    }),
  });
  for (const handler of options.handlers) server.addHandler(handler);
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
}
