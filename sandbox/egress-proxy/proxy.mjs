// @ts-check
// The forward proxy sandboxes reach the outside through: CONNECT tunnels for HTTPS, absolute-URI
// requests for plain HTTP. Each request is decided (destination.mjs) before any connection is
// made, and only to an address that was checked. Refusals are answered 403 and reported.
import http from 'node:http';
import net from 'node:net';
import { decide, parseAbsoluteUrl, parseAuthority } from './destination.mjs';

/**
 * @typedef {{
 *   event: 'blocked', host: string, port: number,
 *   reason: 'not-allowed' | 'address', detail: string,
 *   via: string,
 * }} BlockedReport `via` is the proxy's own address the request came in on: it tells the sessions apart.
 * @typedef {{
 *   policy: import('./policy.mjs').EgressPolicy,
 *   report(report: BlockedReport): void,
 *   resolve?: import('./destination.mjs').Resolver,
 *   connectTimeoutMs?: number,
 *   idleTimeoutMs?: number,
 * }} ProxyOptions
 */

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);
const DEFAULT_CONNECT_TIMEOUT_MS = 15_000;
/** A tunnel or request quiet for this long is closed: a hung download must not hold sockets forever. */
const DEFAULT_IDLE_TIMEOUT_MS = 10 * 60_000;

/** @param {ProxyOptions} options */
export function createEgressProxy(options) {
  const server = http.createServer();
  server.on('connect', (req, socket, head) => {
    void tunnel(req, /** @type {net.Socket} */ (socket), head, options).catch(() => socket.destroy());
  });
  server.on('request', (req, res) => {
    void forward(req, res, options).catch(() => res.destroy());
  });
  server.on('clientError', (_error, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  return server;
}

/**
 * The text a refused client reads. A host outside the list can be allowed; an address in a
 * refused range never can, so that message does not suggest it.
 * @param {string} host
 * @param {{ reason: 'not-allowed' | 'address', detail: string }} blocked
 */
export function blockedText(host, blocked) {
  return blocked.reason === 'not-allowed'
    ? `egress to ${host} blocked by TeleCoder: it is not a package registry or an allowed host; allow it with TELECODER_EGRESS_ALLOW\n`
    : `egress to ${host} blocked by TeleCoder: ${blocked.detail}\n`;
}

/**
 * @param {http.IncomingMessage} req
 * @param {net.Socket} client
 * @param {Buffer} head
 * @param {ProxyOptions} options
 */
async function tunnel(req, client, head, options) {
  client.on('error', () => client.destroy());
  const target = parseAuthority(req.url ?? '');
  if (!target) return refuse(client, 400, 'CONNECT takes host:port\n');
  const decision = await decide(target, options.policy, options.resolve);
  if (decision.kind === 'blocked') {
    options.report({ event: 'blocked', ...target, reason: decision.reason, detail: decision.detail, via: localAddressOf(client) });
    return refuse(client, 403, blockedText(target.host, decision));
  }
  if (decision.kind === 'unresolvable') return refuse(client, 502, `${decision.detail}\n`);
  let upstream;
  try {
    upstream = await connectFirst(decision.addresses, target.port, options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
  } catch (error) {
    return refuse(client, 502, `cannot connect to ${target.host}:${target.port}: ${messageOf(error)}\n`);
  }
  if (client.destroyed) {
    upstream.destroy();
    return;
  }
  client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
  if (head.length > 0) upstream.write(head);
  const idle = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  for (const [from, to] of [
    [client, upstream],
    [upstream, client],
  ]) {
    from.setTimeout(idle, () => from.destroy());
    from.on('error', () => to.destroy());
    from.on('close', () => to.destroy());
    from.pipe(to);
  }
}

/**
 * @param {http.IncomingMessage} req
 * @param {http.ServerResponse} res
 * @param {ProxyOptions} options
 */
async function forward(req, res, options) {
  const target = parseAbsoluteUrl(req.url ?? '');
  if (!target) {
    return reply(res, 400, "This is TeleCoder's egress proxy: send http:// URLs through it (HTTP_PROXY) and HTTPS with CONNECT (HTTPS_PROXY).\n");
  }
  const decision = await decide(target, options.policy, options.resolve);
  if (decision.kind === 'blocked') {
    options.report({ event: 'blocked', host: target.host, port: target.port, reason: decision.reason, detail: decision.detail, via: localAddressOf(req.socket) });
    return reply(res, 403, blockedText(target.host, decision));
  }
  if (decision.kind === 'unresolvable') return reply(res, 502, `${decision.detail}\n`);
  let socket;
  try {
    socket = await connectFirst(decision.addresses, target.port, options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
  } catch (error) {
    return reply(res, 502, `cannot connect to ${target.host}:${target.port}: ${messageOf(error)}\n`);
  }
  const connected = socket;
  const upstream = http.request({
    // The socket is already open to the checked address. Host is the checked name (RFC 9112
    // §3.2.2), never the client's own: a different Host would reach another site behind the
    // same CDN as an allowed registry.
    createConnection: () => connected,
    method: req.method,
    path: target.path,
    headers: { ...endToEnd(req.headers), host: hostHeader(target) },
  });
  upstream.setTimeout(options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS, () => upstream.destroy(new Error('idle timeout')));
  upstream.on('response', (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.statusMessage, endToEnd(answer.headers));
    answer.pipe(res);
    answer.on('error', () => res.destroy());
  });
  upstream.on('error', (error) => {
    if (res.headersSent) res.destroy();
    else reply(res, 502, `request to ${target.host} failed: ${error.message}\n`);
  });
  res.on('close', () => upstream.destroy());
  req.pipe(upstream);
}

/**
 * Connects to the first of the addresses that answers.
 * @param {string[]} addresses
 * @param {number} port
 * @param {number} timeoutMs
 * @returns {Promise<net.Socket>}
 */
async function connectFirst(addresses, port, timeoutMs) {
  let lastError = new Error('no address to connect to');
  for (const address of addresses) {
    try {
      return await new Promise((resolve, reject) => {
        const socket = net.connect({ host: address, port });
        const fail = (/** @type {Error} */ error) => {
          socket.destroy();
          reject(error);
        };
        socket.setTimeout(timeoutMs, () => fail(new Error(`no answer from ${address} within ${timeoutMs} ms`)));
        socket.once('error', fail);
        socket.once('connect', () => {
          socket.setTimeout(0);
          socket.removeListener('error', fail);
          resolve(socket);
        });
      });
    } catch (error) {
      lastError = error instanceof Error ? error : new Error(String(error));
    }
  }
  throw lastError;
}

/** @param {{ host: string, port: number }} target */
function hostHeader(target) {
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  return target.port === 80 ? host : `${host}:${target.port}`;
}

/**
 * Headers without the hop-by-hop ones (and those the Connection header names).
 * @param {http.IncomingHttpHeaders} headers
 */
function endToEnd(headers) {
  const named = new Set(
    String(headers.connection ?? '')
      .split(',')
      .map((name) => name.trim().toLowerCase())
      .filter(Boolean),
  );
  /** @type {http.OutgoingHttpHeaders} */
  const kept = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name)) continue;
    kept[name] = value;
  }
  return kept;
}

/**
 * @param {net.Socket} socket
 * @param {number} status
 * @param {string} body
 */
function refuse(socket, status, body) {
  const length = Buffer.byteLength(body);
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${length}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/**
 * @param {http.ServerResponse} res
 * @param {number} status
 * @param {string} body
 */
function reply(res, status, body) {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
  res.end(body);
}

/** The proxy's address on the network the client came from (IPv4, without the ::ffff: form). @param {net.Socket} socket */
function localAddressOf(socket) {
  const address = socket.localAddress ?? '';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/** @param {unknown} error */
function messageOf(error) {
  return error instanceof Error ? error.message : String(error);
}
