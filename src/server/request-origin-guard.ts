import type { IncomingMessage, ServerResponse } from 'node:http';
import { isLoopbackHost } from '../config/config.js';
import { sendError } from '../http/send-json.js';

export interface RequestOriginGuardOptions {
  /** The address the server listens on (TELECODER_ADDR's host). */
  listenHost: string;
  port: number;
  /** TELECODER_PUBLIC_URL: another address requests may name (a reverse proxy, a tunnel). */
  publicUrl?: string | undefined;
  /** Exempt: GitHub (or a smee/ngrok tunnel) delivers there, and the signature is that route's wall. */
  webhookPath: string;
}

interface HostPort {
  /** Lower case; IPv6 in brackets, as in a Host header or URL.hostname. */
  hostname: string;
  port: number | undefined;
}

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];

function parseHost(value: string | undefined): HostPort | undefined {
  const match = /^(\[[0-9a-f:.]+\]|[^:[\]\s/@]+)(?::(\d{1,5}))?$/i.exec(value?.trim() ?? '');
  if (!match) return undefined;
  return { hostname: match[1]!.toLowerCase(), port: match[2] === undefined ? undefined : Number(match[2]) };
}

function parseOrigin(value: string): { hostname: string; port: number; origin: string } | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined; // "null" (sandboxed frames, file: pages) and anything unparsable
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  return { hostname: url.hostname.toLowerCase(), port: Number(url.port) || (url.protocol === 'https:' ? 443 : 80), origin: url.origin };
}

/**
 * Refuses requests a web page in someone's browser could make, before any other handler runs:
 *
 * - DNS rebinding: a page on evil.example re-points its name at 127.0.0.1 and then talks to the
 *   loopback server as a same-origin page. Its requests still say `Host: evil.example`, so on a
 *   loopback address only Host values naming this server (127.0.0.1, localhost, [::1], with the
 *   port, or TELECODER_PUBLIC_URL's host) are served; others get 421.
 * - Cross-site requests: a browser request whose `Origin` is not this server's own gets 403,
 *   on every address. Clients that are not browsers send no Origin and are not affected.
 *
 * The webhook path is exempt from both: no browser is involved there, proxies and tunnels deliver
 * with their own Host, and a delivery is accepted only with a valid signature anyway.
 * Resolves true when it answered (refused) the request.
 */
export function createRequestOriginGuard(options: RequestOriginGuardOptions) {
  const loopback = isLoopbackHost(options.listenHost);
  const listen = options.listenHost.includes(':') && !options.listenHost.startsWith('[') ? `[${options.listenHost}]` : options.listenHost;
  const loopbackNames = new Set([...LOOPBACK_NAMES, listen.toLowerCase()]);
  const publicUrl = options.publicUrl ? parseOrigin(options.publicUrl) : undefined;
  const ownAddresses = [
    ...(loopback ? [...loopbackNames].map((name) => `${name}:${options.port}`) : []),
    ...(publicUrl ? [new URL(publicUrl.origin).host] : []),
  ];

  const isPublicHost = (host: HostPort) =>
    publicUrl !== undefined && host.hostname === publicUrl.hostname && (host.port === undefined || host.port === publicUrl.port);
  const isLoopbackName = (host: HostPort, port: number) => loopbackNames.has(host.hostname) && port === options.port;

  const hostIsOurs = (host: HostPort | undefined) =>
    host !== undefined && (isPublicHost(host) || isLoopbackName(host, host.port ?? 80));

  const originIsOurs = (req: IncomingMessage, value: string) => {
    const origin = parseOrigin(value);
    if (!origin) return false;
    if (publicUrl && origin.origin === publicUrl.origin) return true;
    if (loopback) return isLoopbackName(origin, origin.port);
    // Beyond loopback the server has no one name of its own: same-origin means the page was
    // loaded from the host this request was sent to. (Rebinding needs no defence there: every
    // route needs the API token, which a page cannot know.)
    const host = parseHost(req.headers.host);
    return host !== undefined && host.hostname === origin.hostname && (host.port === undefined || host.port === origin.port);
  };

  return (req: IncomingMessage, res: ServerResponse): boolean => {
    if ((req.url ?? '/').split('?')[0] === options.webhookPath) return false;
    const refuse = (status: number, message: string) => {
      // The body is never read; the connection closes after the answer.
      req.resume();
      sendError(res, status, message, { Connection: 'close' });
      return true;
    };
    if (loopback && !hostIsOurs(parseHost(req.headers.host))) {
      const named = JSON.stringify((req.headers.host ?? '').slice(0, 200));
      return refuse(421,
        `telecoder: this server answers only to its own address (${ownAddresses.join(', ')}), and this request named ${named}. ` +
          'Other names are refused so that a web page cannot reach it through DNS rebinding. ' +
          'If you reach it through a proxy or a tunnel, set TELECODER_PUBLIC_URL to the address you use.');
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !originIsOurs(req, origin)) {
      return refuse(403,
        `telecoder: cross-origin request refused: Origin ${JSON.stringify(origin.slice(0, 200))} is not this server's own. ` +
          'Web pages from other sites may not call TeleCoder; use the CLI or a script (they send no Origin), ' +
          'or, behind a proxy, set TELECODER_PUBLIC_URL to the address the browser uses.');
    }
    return false;
  };
}
