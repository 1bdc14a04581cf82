import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';

describe('createLogger', () => {
  it('never writes credentials from request headers, in the logger or its children', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logger = createLogger('info', sink);
    const headers = {
      host: '127.0.0.1',
      authorization: 'Bearer API-TOKEN-CANARY',
      cookie: 'session=COOKIE-CANARY',
      'x-hub-signature-256': 'sha256=SIGNATURE-CANARY',
    };
    logger.info({ req: { method: 'GET', url: '/api/sessions', headers } }, 'request');
    logger.child({ name: 'http' }).info({ req: { headers } }, 'child request');
    const written = lines.join('');
    expect(written).toContain('"host":"127.0.0.1"');
    expect(written).toContain('[redacted]');
    for (const canary of ['API-TOKEN-CANARY', 'COOKIE-CANARY', 'SIGNATURE-CANARY']) expect(written).not.toContain(canary);
  });
});
