import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import { listenOnLoopback } from './listen-on-loopback.js';

export interface HoldingProxy {
  /** Base URL, no trailing slash: use it in place of the target's. */
  url: string;
  /** Requests held so far (their clients may have gone since). */
  readonly held: number;
  /** Resolves when a request has been held. */
  waitForHeld(): Promise<void>;
  /** Closes the proxy and every connection through it, held ones included. */
  close(): Promise<void>;
}

export interface HoldingProxyOptions {
  /** Where requests go, e.g. a git smart-HTTP server's base URL. */
  target: string;
  /**
   * Which requests never get an answer: the client stays waiting, as with a server that is
   * still working on it, until it gives up or the proxy closes. Only the first `times` matches
   * are held (default 1); later ones pass.
   */
  hold: (request: IncomingMessage) => boolean;
  times?: number;
}

/**
 * A reverse proxy on 127.0.0.1 that passes everything to `target` except the requests it holds.
 * Tests put it in front of a git server to keep a clone or a push in flight while they kill the
 * process that started it.
 */
export async function startHoldingProxy(options: HoldingProxyOptions): Promise<HoldingProxy> {
  const target = new URL(options.target);
  let remaining = options.times ?? 1;
  let held = 0;
  const waiting: Array<() => void> = [];
  const server = createServer((req, res) => {
    if (remaining > 0 && options.hold(req)) {
      remaining--;
      held++;
      for (const wake of waiting.splice(0)) wake();
      return;
    }
    const upstream = httpRequest(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', (error) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end(`proxy: ${error.message}\n`);
      else res.destroy(error);
    });
    req.pipe(upstream);
  });
  const url = await listenOnLoopback(server);
  return {
    url,
    get held() {
      return held;
    },
    waitForHeld: () => (held > 0 ? Promise.resolve() : new Promise<void>((resolve) => waiting.push(resolve))),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
