import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { createRequestOriginGuard, type RequestOriginGuardOptions } from '../../src/server/request-origin-guard.js';

/** What the guard answers: the status it refused with, or "pass" when the request goes on. */
function check(options: Partial<RequestOriginGuardOptions>, headers: Record<string, string>, url = '/api/sessions'): number | 'pass' {
  const guard = createRequestOriginGuard({ listenHost: '127.0.0.1', port: 7080, webhookPath: '/api/github/webhooks', ...options });
  let status = 0;
  const req = { url, method: 'POST', headers, resume: () => undefined } as unknown as IncomingMessage;
  const res = {
    writeHead(code: number) {
      status = code;
      return this;
    },
    end: () => undefined,
  } as unknown as ServerResponse;
  return guard(req, res) ? status : 'pass';
}

describe('the Host/Origin guard', () => {
  it('on loopback serves only Host values naming this server, with its port', () => {
    for (const host of ['127.0.0.1:7080', 'localhost:7080', 'LOCALHOST:7080', '[::1]:7080']) expect(check({}, { host }), host).toBe('pass');
    for (const host of ['evil.example', 'evil.example:7080', '127.0.0.1', '127.0.0.1:7081', 'localhost.evil.example:7080', '127.0.0.2:7080', '']) {
      expect(check({}, { host }), host).toBe(421);
    }
    expect(check({}, {})).toBe(421); // no Host at all
    // Another loopback address it listens on names itself too; IPv6 in brackets.
    expect(check({ listenHost: '127.0.0.2' }, { host: '127.0.0.2:7080' })).toBe('pass');
    expect(check({ listenHost: '::1' }, { host: '[::1]:7080' })).toBe('pass');
    expect(check({ port: 80 }, { host: 'localhost' })).toBe('pass');
  });

  it("serves TELECODER_PUBLIC_URL's host, with its port or the scheme's", () => {
    const options = { publicUrl: 'https://telecoder.example.com' };
    expect(check(options, { host: 'telecoder.example.com' })).toBe('pass');
    expect(check(options, { host: 'telecoder.example.com:443' })).toBe('pass');
    expect(check(options, { host: 'telecoder.example.com:8443' })).toBe(421);
    expect(check(options, { host: 'telecoder.example.com', origin: 'https://telecoder.example.com' })).toBe('pass');
    expect(check(options, { host: 'telecoder.example.com', origin: 'http://telecoder.example.com' })).toBe(403);
    expect(check({ publicUrl: 'http://10.0.0.5:8080' }, { host: '10.0.0.5:8080', origin: 'http://10.0.0.5:8080' })).toBe('pass');
  });

  it("refuses every Origin but the server's own, opaque ones included", () => {
    const host = '127.0.0.1:7080';
    for (const origin of ['http://127.0.0.1:7080', 'http://localhost:7080', 'http://[::1]:7080', 'https://localhost:7080']) {
      expect(check({}, { host, origin }), origin).toBe('pass');
    }
    for (const origin of ['http://evil.example', 'http://127.0.0.1:7081', 'null', 'file://', 'chrome-extension://abc', 'not a url']) {
      expect(check({}, { host, origin }), origin).toBe(403);
    }
  });

  it('beyond loopback serves any Host, and an Origin only when it names that Host', () => {
    const options = { listenHost: '0.0.0.0' };
    expect(check(options, { host: 'build-box.internal:7080' })).toBe('pass');
    expect(check(options, { host: 'build-box.internal:7080', origin: 'http://build-box.internal:7080' })).toBe('pass');
    // Behind a TLS proxy the Host carries no port and the page is https.
    expect(check(options, { host: 'build-box.internal', origin: 'https://build-box.internal' })).toBe('pass');
    expect(check(options, { host: 'build-box.internal:7080', origin: 'http://evil.example' })).toBe(403);
    expect(check(options, { host: 'build-box.internal:7080', origin: 'http://build-box.internal:9999' })).toBe(403);
  });

  it('leaves the webhook path to its signature check', () => {
    const headers = { host: 'evil.example', origin: 'http://evil.example' };
    expect(check({}, headers, '/api/github/webhooks')).toBe('pass');
    expect(check({}, headers, '/api/github/webhooks?x=1')).toBe('pass');
    expect(check({}, headers, '/api/github/webhooks/../../sessions')).toBe(421);
    expect(check({ webhookPath: '/hooks' }, headers, '/api/github/webhooks')).toBe(421);
  });
});
