import { createReadStream } from 'node:fs';
import { realpath, stat, readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, sep } from 'node:path';
import type { Logger } from '../logger.js';
import { packageRoot } from './package-root.js';

/** Same-origin only: the app's code, styles and API calls all come from this server. */
export const DASHBOARD_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

const SECURITY_HEADERS = {
  'Content-Security-Policy': DASHBOARD_CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

export const DASHBOARD_NOT_BUILT =
  'The TeleCoder dashboard is not built, so there is nothing to show here.\n\n' +
  'Build it from the TeleCoder checkout with `npm ci && npm run build` (it writes dist/web/), then reload this page.\n' +
  'The API (/api/…) and the GitHub App setup pages (/probot) work without it.\n';

export interface DashboardHandlerOptions {
  /** The built app: index.html and assets/. Default <package root>/dist/web. */
  dir?: string | undefined;
  logger?: Logger | undefined;
}

/** `/` and the app's own deep links, which the browser app routes itself. */
function isAppPage(path: string): boolean {
  return path === '/' || /^\/sessions\/[^/]+\/?$/.test(path);
}

/**
 * An asset's file name from `/assets/<name>`, or undefined for anything that could name a file
 * elsewhere: another directory level, `..`, a hidden file, a NUL, a backslash. The path is the
 * raw one, decoded once here, so `%2e%2e` and `%2f` are judged as what they decode to.
 */
function assetName(rawPath: string): string | undefined {
  if (!rawPath.startsWith('/assets/')) return undefined;
  let name: string;
  try {
    name = decodeURIComponent(rawPath.slice('/assets/'.length));
  } catch {
    return undefined;
  }
  if (name === '' || name.startsWith('.') || /[/\\\0]/.test(name)) return undefined;
  return name;
}

/**
 * Serves the built web dashboard (no API token: the page holds no data, the API it calls checks
 * the token). Pages are revalidated on every load so a new build is picked up at once; assets have
 * content-hashed names, so they are cached for good. A symlink that leads out of the directory is
 * refused, whatever the name says. Resolves false for every other request.
 */
export function createDashboardHandler(options: DashboardHandlerOptions = {}) {
  const dir = options.dir ?? join(packageRoot(), 'dist', 'web');

  const answer = (req: IncomingMessage, res: ServerResponse, status: number, headers: Record<string, string>, body: string | Buffer) => {
    res.writeHead(status, { ...SECURITY_HEADERS, ...headers });
    res.end(req.method === 'HEAD' ? undefined : body);
  };

  const notFound = (req: IncomingMessage, res: ServerResponse) =>
    answer(req, res, 404, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-cache' }, 'no such dashboard file; reload the dashboard from /\n');

  /** The real path of `name` inside the dashboard directory, or undefined if it is not a file there. */
  const resolveInside = async (...parts: string[]): Promise<string | undefined> => {
    try {
      const root = await realpath(dir);
      const file = await realpath(join(root, ...parts));
      if (!file.startsWith(root + sep)) return undefined;
      return (await stat(file)).isFile() ? file : undefined;
    } catch {
      return undefined;
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    const method = (req.method ?? 'GET').toUpperCase();
    if (method !== 'GET' && method !== 'HEAD') return false;
    const rawPath = (req.url ?? '/').split('?')[0] ?? '/';

    if (isAppPage(rawPath)) {
      const index = await resolveInside('index.html');
      const html = index ? await readFile(index).catch(() => undefined) : undefined;
      if (!html) {
        answer(req, res, 503, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-cache' }, DASHBOARD_NOT_BUILT);
        return true;
      }
      answer(req, res, 200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-cache' }, html);
      return true;
    }

    if (!rawPath.startsWith('/assets/')) return false;
    const name = assetName(rawPath);
    const file = name === undefined ? undefined : await resolveInside('assets', name);
    if (!file) {
      notFound(req, res);
      return true;
    }
    const size = (await stat(file)).size;
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'Content-Type': CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'Content-Length': String(size),
      'Cache-Control': 'public, max-age=31536000, immutable',
    });
    if (method === 'HEAD') {
      res.end();
      return true;
    }
    createReadStream(file)
      .on('error', () => res.destroy())
      .pipe(res);
    return true;
  };

  return async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    try {
      return await handle(req, res);
    } catch (error) {
      // A file removed or unreadable mid-request (a rebuild under way): never the server's end.
      options.logger?.warn({ err: error, url: req.url }, 'could not serve a dashboard file');
      if (res.headersSent) res.destroy();
      else answer(req, res, 500, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' }, 'the dashboard file could not be read; reload the page, or rebuild with `npm run build`\n');
      return true;
    }
  };
}
