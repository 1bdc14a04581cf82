import { once } from 'node:events';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { EgressPolicy } from '../../sandbox/egress-proxy/policy.mjs';
import { createEgressProxy, type BlockedReport } from '../../sandbox/egress-proxy/proxy.mjs';

// The proxy in-process, on loopback. Its real policy refuses loopback, so these tests give it one
// that allows 127.0.0.1 and nothing else, and a resolver that answers names no DNS knows: any
// request that reaches the upstream server went to the address the proxy checked.

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function listen(server: Server): Promise<number> {
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

const loopbackOnly: EgressPolicy = {
  mode: 'registries',
  hostAllowed: (host) => host === 'upstream.test' || host === 'rebinding.test',
  addressRefusal: (address) => (address === '127.0.0.1' ? undefined : 'not the test upstream'),
};

async function start(resolve: (host: string) => Promise<string[]>) {
  const seen: Array<{ url: string | undefined; headers: IncomingHttpHeaders }> = [];
  const upstreamPort = await listen(
    createServer((req, res) => {
      seen.push({ url: req.url, headers: req.headers });
      res.end(`UPSTREAM ${req.method} ${req.url}`);
    }),
  );
  const reports: BlockedReport[] = [];
  const proxyPort = await listen(createEgressProxy({ policy: loopbackOnly, report: (report) => reports.push(report), resolve, connectTimeoutMs: 2_000 }));
  return { upstreamPort, proxyPort, reports, seen };
}

function viaProxy(proxyPort: number, target: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: proxyPort, path: target, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A CONNECT through the proxy; on 200, one HTTP request through the tunnel. */
function tunnel(proxyPort: number, authority: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(proxyPort, '127.0.0.1', () => {
      socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
    });
    let text = '';
    let sent = false;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (!sent && text.startsWith('HTTP/1.1 200')) {
        sent = true;
        socket.write(`GET /through-tunnel HTTP/1.1\r\nHost: ${authority}\r\nConnection: close\r\n\r\n`);
      }
    });
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

describe('the egress proxy', () => {
  it('forwards absolute-URI requests to the address it checked, with the checked name as Host whatever the client sent', async () => {
    const resolved: string[] = [];
    const { upstreamPort, proxyPort, seen, reports } = await start(async (host) => (resolved.push(host), ['127.0.0.1']));
    const answer = await viaProxy(proxyPort, `http://upstream.test:${upstreamPort}/pkg?x=1`, {
      host: 'other-site-on-the-same-cdn.example',
      'proxy-authorization': 'Basic c2VjcmV0',
      'proxy-connection': 'keep-alive',
    });
    expect(answer).toEqual({ status: 200, body: 'UPSTREAM GET /pkg?x=1' });
    expect(resolved).toEqual(['upstream.test']);
    expect(seen[0]!.headers.host).toBe(`upstream.test:${upstreamPort}`);
    // Hop-by-hop headers meant for the proxy never reach the upstream.
    expect(seen[0]!.headers['proxy-authorization']).toBeUndefined();
    expect(seen[0]!.headers['proxy-connection']).toBeUndefined();
    expect(reports).toEqual([]);
  });

  it('tunnels CONNECT to the checked address', async () => {
    const { upstreamPort, proxyPort } = await start(async () => ['127.0.0.1']);
    const text = await tunnel(proxyPort, `upstream.test:${upstreamPort}`);
    expect(text).toMatch(/^HTTP\/1\.1 200 Connection Established\r\n\r\n/);
    expect(text).toContain('UPSTREAM GET /through-tunnel');
  });

  it('resolves a name once per request: a resolver that changes its answer (DNS rebinding) cannot move the connection', async () => {
    let calls = 0;
    const { upstreamPort, proxyPort, reports } = await start(async () => (++calls === 1 ? ['127.0.0.1'] : ['10.0.0.1']));
    expect((await viaProxy(proxyPort, `http://rebinding.test:${upstreamPort}/`)).status).toBe(200);
    expect(calls).toBe(1);
    // The next request resolves again and is judged on what it got.
    const second = await viaProxy(proxyPort, `http://rebinding.test:${upstreamPort}/`);
    expect(second.status).toBe(403);
    expect(second.body).toContain('rebinding.test (10.0.0.1) is not the test upstream');
    expect(reports).toEqual([expect.objectContaining({ host: 'rebinding.test', reason: 'address', via: '127.0.0.1' })]);
  });

  it('answers 403 with the way to allow a host, reports it, and never connects', async () => {
    const { upstreamPort, proxyPort, reports, seen } = await start(async () => ['127.0.0.1']);
    const plain = await viaProxy(proxyPort, `http://elsewhere.test:${upstreamPort}/`);
    expect(plain.status).toBe(403);
    expect(plain.body).toBe('egress to elsewhere.test blocked by TeleCoder: it is not a package registry or an allowed host; allow it with TELECODER_EGRESS_ALLOW\n');
    const connectText = await tunnel(proxyPort, `elsewhere.test:${upstreamPort}`);
    expect(connectText).toMatch(/^HTTP\/1\.1 403 Forbidden/);
    expect(seen).toEqual([]);
    expect(reports.map((report) => [report.host, report.port, report.reason])).toEqual([
      ['elsewhere.test', upstreamPort, 'not-allowed'],
      ['elsewhere.test', upstreamPort, 'not-allowed'],
    ]);
  });

  it('refuses requests that are not proxy requests, and names it cannot resolve', async () => {
    const { proxyPort, reports } = await start(async () => Promise.reject(new Error('ENOTFOUND')));
    const direct = await viaProxy(proxyPort, '/');
    expect(direct.status).toBe(400);
    expect(direct.body).toContain("TeleCoder's egress proxy");
    const unknown = await viaProxy(proxyPort, 'http://upstream.test/');
    expect(unknown.status).toBe(502);
    expect(unknown.body).toContain('cannot resolve upstream.test');
    expect(reports).toEqual([]);
  });
});
