import type { IncomingMessage, ServerResponse } from 'node:http';
import { hasBearerToken, WWW_AUTHENTICATE } from '../http/auth.js';
import { sendError } from '../http/send-json.js';
import { SetupTickets } from './setup-tickets.js';

/** The browser's proof that it opened the setup pages with permission (HttpOnly, SameSite=Lax). */
export const SETUP_COOKIE = 'telecoder_setup';
/** Where GitHub sends the browser back after registering an App from the manifest. */
export const SETUP_CALLBACK_PATH = '/probot/setup';
/** POST with the API token: a one-time link that opens the setup pages in a browser. */
export const SETUP_LINK_PATH = '/probot/link';

export interface SetupAccessOptions {
  /** TELECODER_API_TOKEN; when set, nothing under /probot is served without it (or a ticket it minted). */
  apiToken: string | undefined;
  /** The server listens on a loopback address: without a token the pages are served only then. */
  loopback: boolean;
  /** Never a setup path, whatever WEBHOOK_PATH is set to. */
  webhookPath: string;
}

/** The path and query as Probot's own handlers (static files) read them: the raw URL split at `?`. */
export function setupUrl(req: IncomingMessage): { path: string; query: URLSearchParams } {
  const [path = '/', query = ''] = (req.url ?? '/').split('?');
  return { path, query: new URLSearchParams(query) };
}

function isSetupPath(path: string, webhookPath: string): boolean {
  return path !== webhookPath && (path === '/probot' || path.startsWith('/probot/'));
}

/** The same path after URL normalisation (`/x/../probot`), so no spelling of a setup path slips past. */
function normalizedPath(req: IncomingMessage): string {
  try {
    return new URL(req.url ?? '/', 'http://localhost').pathname;
  } catch {
    return '/';
  }
}

function cookies(req: IncomingMessage, name: string): string[] {
  const header = req.headers.cookie ?? '';
  return header
    .split(';')
    .map((part) => part.trim().split('='))
    .filter(([key]) => key === name)
    .map(([, ...value]) => value.join('='));
}

/**
 * Who may use Probot's setup pages (/probot, /probot/*), which register a GitHub App and store
 * its keys. It runs before every other handler, Probot's static files included.
 *
 * - With TELECODER_API_TOKEN set: requests carrying the token, or a browser holding a setup cookie.
 *   A browser cannot send a bearer header, so `POST /probot/link` (with the token) mints a one-time
 *   link; opening it sets the cookie.
 * - Without a token: only on a loopback address. Pages are open there; writes still need the
 *   cookie, which a page of this server sets, so a form on another site cannot post keys.
 * - GitHub's redirect back (`/probot/setup?code=…&state=…`) is accepted only with a `state` minted
 *   by a page shown to an allowed request, used once. Otherwise any page could send the browser
 *   there with the code of an App its author registered, and TeleCoder would store that App's keys.
 */
export class SetupAccess {
  /** One-time links minted with the API token; exchanged for a session at once. */
  readonly links = new SetupTickets();
  /** The browser setup cookies. */
  readonly sessions = new SetupTickets();
  /** The manifest flow's `state`, one per page shown. */
  readonly states = new SetupTickets();
  readonly #options: SetupAccessOptions;

  constructor(options: SetupAccessOptions) {
    this.#options = options;
  }

  /** A Probot server handler: resolves true when it answered (refused, or turned a link into a cookie). */
  readonly guard = (req: IncomingMessage, res: ServerResponse): boolean => {
    const { apiToken, loopback, webhookPath } = this.#options;
    const { path, query } = setupUrl(req);
    if (!isSetupPath(path, webhookPath) && !isSetupPath(normalizedPath(req), webhookPath)) return false;
    const method = (req.method ?? 'GET').toUpperCase();
    const address = req.headers.host ? `http://${req.headers.host}` : 'http://<this server>';

    if (!apiToken && !loopback) {
      return refuse(req, res, 403,
        'telecoder: the GitHub App setup pages are served only on a loopback address unless TELECODER_API_TOKEN is set; ' +
          'set TELECODER_API_TOKEN and ask for a setup link (see the README, "Register the app").');
    }
    if (path === SETUP_CALLBACK_PATH) {
      if (this.states.isLive(query.get('state'))) return false;
      return refuse(req, res, 403,
        'telecoder: this GitHub App registration was not started from this server\'s setup page, or it expired (30 minutes) ' +
          `or was already used. Start again from ${address}/probot.`);
    }
    if (apiToken && hasBearerToken(req, apiToken)) return false;
    if (this.sessionOf(req)) return false;

    const link = query.get('ticket');
    if (path === '/probot' && method === 'GET' && link) {
      if (!this.links.consume(link)) {
        return refuse(req, res, 403, `telecoder: this setup link expired (30 minutes) or was already used; ask for a new one with POST ${address}${SETUP_LINK_PATH}.`);
      }
      this.openSession(res);
      // The ticket leaves the address bar (and the Referer the page would send to GitHub).
      res.writeHead(303, { Location: '/probot', 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer' }).end();
      return true;
    }
    if (!apiToken) {
      if (method === 'GET' || method === 'HEAD') return false;
      return refuse(req, res, 403,
        `telecoder: ${method} ${path} needs the setup cookie of a page served by this server: open ${address}/probot/import ` +
          'in a browser on this machine and upload the App\'s keys there, or set APP_ID, PRIVATE_KEY and WEBHOOK_SECRET yourself.');
    }
    return refuse(req, res, 401,
      'telecoder: the GitHub App setup pages need the API token. Scripts send "Authorization: Bearer <TELECODER_API_TOKEN>"; ' +
        `for a browser, ask for a one-time link: curl -X POST -H "Authorization: Bearer $TELECODER_API_TOKEN" ${address}${SETUP_LINK_PATH} ` +
        'and open the url it returns within 30 minutes.',
      { 'WWW-Authenticate': WWW_AUTHENTICATE });
  };

  /** The request's live setup cookie, if it has one. */
  sessionOf(req: IncomingMessage): string | undefined {
    return cookies(req, SETUP_COOKIE).find((ticket) => this.sessions.isLive(ticket));
  }

  /** Gives the browser a setup cookie (sent with the response `res` is about to write). */
  openSession(res: ServerResponse): void {
    const ticket = this.sessions.mint();
    const maxAge = Math.floor(this.sessions.ttlMs / 1000);
    res.setHeader('Set-Cookie', `${SETUP_COOKIE}=${ticket}; Path=/probot; Max-Age=${maxAge}; HttpOnly; SameSite=Lax`);
  }
}

function refuse(req: IncomingMessage, res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): true {
  // The body (keys, perhaps) is never read; the connection closes after the answer.
  req.resume();
  sendError(res, status, message, { Connection: 'close', ...headers });
  return true;
}
