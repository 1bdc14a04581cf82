/**
 * A directory of bare repositories served over git's smart HTTP protocol on 127.0.0.1, the way a
 * git host serves them: Node's http module in front of `git http-backend` run as a CGI program.
 * `http://127.0.0.1:PORT/acme/widgets.git` is `<root>/acme/widgets.git`. Pushes work (receive-pack
 * is enabled for anonymous clients) unless `receivePack: false`. Credentials are accepted and
 * ignored, so GitHubProvider's `Authorization` extra header does no harm — unless `basicAuth` is
 * set: then every request must carry exactly those credentials (HTTP basic), as GitHub requires
 * a token for a private repository, and any other request is answered 401.
 *
 * It counts what it served, so tests and benchmarks can tell a network clone from a fetch that
 * found nothing new: requests per service and the bytes of the response bodies.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';

export type GitHttpService = 'info-refs' | 'git-upload-pack' | 'git-receive-pack' | 'other';

export interface GitHttpRequestRecord {
  method: string;
  /** The path asked for, e.g. /acme/widgets.git/git-upload-pack. */
  path: string;
  service: GitHttpService;
  /** For info/refs: the service it advertises (`?service=`). */
  advertised?: string;
  status: number;
  /** Bytes of the response body sent to the client (CGI headers not included). */
  bytes: number;
  durationMs: number;
  /** With `basicAuth`: whether the request carried the required credentials. */
  authorized?: boolean;
}

export interface GitHttpStats {
  /** POST …/git-upload-pack: fetch and clone negotiations and packs (protocol v2: ls-refs too). */
  uploadPackRequests: number;
  /** Response bytes of those requests: what clones and fetches downloaded. */
  uploadPackBytes: number;
  receivePackRequests: number;
  receivePackBytes: number;
  /** GET …/info/refs (the first request of every clone, fetch and push). */
  infoRefsRequests: number;
  infoRefsBytes: number;
  /** Every request, whatever it was. */
  requests: number;
  /** Requests answered with a status ≥ 400. */
  failedRequests: number;
}

export interface GitHttpServer {
  /** Base URL, no trailing slash: `${url}/acme/widgets.git`. */
  url: string;
  root: string;
  stats(): GitHttpStats;
  /** Every request since the start or the last reset(), oldest first. */
  log(): GitHttpRequestRecord[];
  /** Forgets the counts and the log. */
  reset(): void;
  close(): Promise<void>;
}

export interface GitHttpServerOptions {
  /** The directory holding the bare repositories (GIT_PROJECT_ROOT). */
  root: string;
  /** Allow pushes (http.receivepack=true). Default true. */
  receivePack?: boolean;
  /** Extra environment for `git http-backend` (e.g. more GIT_CONFIG_* pairs are not merged: set them all). */
  env?: Record<string, string>;
  /** Require these HTTP basic credentials on every request (401 otherwise). */
  basicAuth?: { username: string; password: string };
  /**
   * Asked before each request is served: resolve later to hold it (a slow host), or answer
   * `{status, message}` to refuse it (a host that fails).
   */
  intercept?: (request: { method: string; path: string; service: GitHttpService; advertised?: string }) =>
    | void
    | { status: number; message: string }
    | Promise<void | { status: number; message: string }>;
}

function emptyStats(): GitHttpStats {
  return {
    uploadPackRequests: 0,
    uploadPackBytes: 0,
    receivePackRequests: 0,
    receivePackBytes: 0,
    infoRefsRequests: 0,
    infoRefsBytes: 0,
    requests: 0,
    failedRequests: 0,
  };
}

function serviceOf(path: string): GitHttpService {
  if (path.endsWith('/info/refs')) return 'info-refs';
  if (path.endsWith('/git-upload-pack')) return 'git-upload-pack';
  if (path.endsWith('/git-receive-pack')) return 'git-receive-pack';
  return 'other';
}

/** CGI meta-variables for the request headers: HTTP_GIT_PROTOCOL, HTTP_CONTENT_ENCODING, … */
function headerVariables(req: IncomingMessage): Record<string, string> {
  const variables: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    const key = `HTTP_${name.toUpperCase().replace(/-/g, '_')}`;
    // The CGI spec leaves these out (they are CONTENT_TYPE / CONTENT_LENGTH); keep the rest.
    if (key === 'HTTP_CONTENT_TYPE' || key === 'HTTP_CONTENT_LENGTH' || key === 'HTTP_AUTHORIZATION') continue;
    variables[key] = Array.isArray(value) ? value.join(', ') : value;
  }
  return variables;
}

/**
 * Splits a CGI program's output into its header block and the start of the body. Returns
 * undefined until the blank line that ends the headers has arrived.
 */
function splitCgiHeaders(buffer: Buffer): { headers: Array<[string, string]>; status: number; body: Buffer } | undefined {
  let end = buffer.indexOf('\r\n\r\n');
  let separator = 4;
  const lf = buffer.indexOf('\n\n');
  if (lf !== -1 && (end === -1 || lf < end)) {
    end = lf;
    separator = 2;
  }
  if (end === -1) return undefined;
  const headers: Array<[string, string]> = [];
  let status = 200;
  for (const line of buffer.subarray(0, end).toString('latin1').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === 'status') {
      const code = Number.parseInt(value, 10);
      if (Number.isInteger(code) && code >= 100 && code <= 599) status = code;
    } else {
      headers.push([name, value]);
    }
  }
  return { headers, status, body: buffer.subarray(end + separator) };
}

/** Whether the request's Authorization header carries exactly these basic credentials. */
function hasBasicAuth(req: IncomingMessage, expected: { username: string; password: string }): boolean {
  const header = req.headers.authorization;
  if (typeof header !== 'string') return false;
  const match = /^basic\s+(\S+)$/i.exec(header.trim());
  if (!match) return false;
  return Buffer.from(match[1]!, 'base64').toString('utf8') === `${expected.username}:${expected.password}`;
}

export async function startGitHttpServer(options: GitHttpServerOptions): Promise<GitHttpServer> {
  const root = resolve(options.root);
  const receivePack = options.receivePack ?? true;
  let stats = emptyStats();
  let records: GitHttpRequestRecord[] = [];
  const children = new Set<ChildProcess>();

  const baseEnv: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    // The machine's and the user's git configuration stay out of it.
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    HOME: '/nonexistent',
    GIT_PROJECT_ROOT: root,
    GIT_HTTP_EXPORT_ALL: '1',
    GIT_CONFIG_COUNT: '2',
    GIT_CONFIG_KEY_0: 'http.receivepack',
    GIT_CONFIG_VALUE_0: receivePack ? 'true' : 'false',
    // Repositories made by another user (a cache in /tmp) are served all the same.
    GIT_CONFIG_KEY_1: 'safe.directory',
    GIT_CONFIG_VALUE_1: '*',
    ...options.env,
  };

  const record = (entry: GitHttpRequestRecord) => {
    records.push(entry);
    stats.requests++;
    if (entry.status >= 400) stats.failedRequests++;
    switch (entry.service) {
      case 'info-refs':
        stats.infoRefsRequests++;
        stats.infoRefsBytes += entry.bytes;
        break;
      case 'git-upload-pack':
        stats.uploadPackRequests++;
        stats.uploadPackBytes += entry.bytes;
        break;
      case 'git-receive-pack':
        stats.receivePackRequests++;
        stats.receivePackBytes += entry.bytes;
        break;
      default:
        break;
    }
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const started = performance.now();
    const method = req.method ?? 'GET';
    const target = new URL(req.url ?? '/', 'http://git.invalid');
    let path: string;
    try {
      path = decodeURIComponent(target.pathname);
    } catch {
      path = '';
    }
    const service = serviceOf(path);
    let bytes = 0;
    let status = 500;
    let recorded = false;
    const authorized = options.basicAuth ? hasBasicAuth(req, options.basicAuth) : undefined;
    const finish = () => {
      if (recorded) return;
      recorded = true;
      const advertised = target.searchParams.get('service') ?? undefined;
      record({
        method,
        path,
        service,
        ...(advertised !== undefined && service === 'info-refs' ? { advertised } : {}),
        status,
        bytes,
        durationMs: performance.now() - started,
        ...(authorized !== undefined ? { authorized } : {}),
      });
    };
    const refuse = (code: number, message: string) => {
      status = code;
      const body = `${message}\n`;
      bytes = Buffer.byteLength(body);
      res.writeHead(code, { 'content-type': 'text/plain', 'content-length': bytes }).end(body);
      req.resume();
      finish();
    };
    if (!path.startsWith('/') || path.split('/').some((part) => part === '..') || path.includes('\0')) {
      refuse(400, 'bad path');
      return;
    }
    if (authorized === false) {
      res.setHeader('WWW-Authenticate', 'Basic realm="telecoder-test-git"');
      refuse(401, 'authentication required');
      return;
    }
    if (options.intercept) {
      const advertised = target.searchParams.get('service') ?? undefined;
      req.pause();
      void Promise.resolve(options.intercept({ method, path, service, ...(advertised !== undefined ? { advertised } : {}) })).then(
        (answer) => (answer ? refuse(answer.status, answer.message) : serve()),
        (error: unknown) => refuse(500, `intercept failed: ${String(error)}`),
      );
      return;
    }
    serve();

    function serve() {
      const env: Record<string, string> = {
        ...baseEnv,
        ...headerVariables(req),
        GATEWAY_INTERFACE: 'CGI/1.1',
        SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
        SERVER_SOFTWARE: 'telecoder-test-git-http',
        REQUEST_METHOD: method,
        QUERY_STRING: target.search.replace(/^\?/, ''),
        PATH_INFO: path,
        REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
      };
      if (req.headers['content-type']) env.CONTENT_TYPE = req.headers['content-type'];
      // Chunked bodies have no length: http-backend then reads stdin to its end.
      if (req.headers['content-length']) env.CONTENT_LENGTH = req.headers['content-length'];
      // A gzip'd body (git compresses large negotiations) is inflated by http-backend itself,
      // which reads HTTP_CONTENT_ENCODING (set above from the header).

      const child = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
      children.add(child);
      const stderr: Buffer[] = [];
      child.stderr.on('data', (chunk: Buffer) => {
        if (stderr.length < 64) stderr.push(chunk);
      });
      child.on('error', (error) => {
        if (!res.headersSent) refuse(500, `git http-backend could not start: ${error.message}`);
        else res.destroy(error);
      });
      // The client went away mid-answer: stop git.
      res.on('close', () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        finish();
      });
      req.pipe(child.stdin);
      child.stdin.on('error', () => undefined);

      let head: Buffer | undefined = Buffer.alloc(0);
      child.stdout.on('data', (chunk: Buffer) => {
        if (head !== undefined) {
          head = Buffer.concat([head, chunk]);
          const parsed = splitCgiHeaders(head);
          if (!parsed) {
            if (head.length > 64 * 1024) {
              child.kill('SIGKILL');
              head = undefined;
              refuse(502, 'git http-backend sent no header block');
            }
            return;
          }
          head = undefined;
          status = parsed.status;
          res.statusCode = parsed.status;
          for (const [name, value] of parsed.headers) res.appendHeader(name, value);
          res.flushHeaders();
          chunk = parsed.body;
          if (chunk.length === 0) return;
        }
        if (res.writableEnded) return;
        bytes += chunk.length;
        if (!res.write(chunk)) {
          child.stdout.pause();
          res.once('drain', () => child.stdout.resume());
        }
      });
      child.on('close', (code, signal) => {
        children.delete(child);
        if (res.writableEnded) return;
        if (head !== undefined) {
          // Exited before a complete header block: a failure of the backend itself.
          const detail = Buffer.concat(stderr).toString('utf8').trim();
          refuse(502, `git http-backend ended (${signal ?? code}) without an answer${detail ? `: ${detail}` : ''}`);
          return;
        }
        if (code !== 0 && status < 400) status = 500;
        res.end(() => finish());
      });
    }
  };

  const server = createServer(handle);
  // Packs of a big repository take a while; Node's default request timeout would cut them.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => resolveListen());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    root,
    stats: () => ({ ...stats }),
    log: () => [...records],
    reset: () => {
      stats = emptyStats();
      records = [];
    },
    close: async () => {
      for (const child of children) child.kill('SIGKILL');
      server.closeAllConnections();
      await new Promise<void>((resolveClose) => server.close(() => resolveClose()));
    },
  };
}
