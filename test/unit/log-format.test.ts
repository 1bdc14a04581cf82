import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { defaultLogFormat } from '../../src/log-format.js';
import { createLogger } from '../../src/logger.js';

function sink() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { stream, text: () => lines.join('') };
}

describe('log format', () => {
  it('is pretty on a terminal and JSON lines anywhere else, as in Probot', () => {
    expect(defaultLogFormat({ isTTY: true })).toBe('pretty');
    expect(defaultLogFormat({ isTTY: false })).toBe('json');
    expect(defaultLogFormat({})).toBe('json');
  });

  it('writes readable lines when pretty, still without credentials', () => {
    const out = sink();
    const logger = createLogger('info', out.stream, 'pretty');
    logger.info({ req: { headers: { authorization: 'Bearer API-TOKEN-CANARY' } } }, 'request seen');
    const text = out.text();
    expect(text).toMatch(/INFO.*\(telecoder\): request seen/);
    expect(() => JSON.parse(text)).toThrow();
    expect(text).not.toContain('API-TOKEN-CANARY');
    expect(text).toContain('[redacted]');
  });

  it('writes one JSON object a line when json (the default with a destination)', () => {
    const out = sink();
    createLogger('info', out.stream).info('request seen');
    expect(JSON.parse(out.text())).toMatchObject({ name: 'telecoder', msg: 'request seen', level: 30 });
  });

  it('is chosen with LOG_FORMAT, which takes only pretty or json', () => {
    const env = { TELECODER_DATA_DIR: '/nonexistent/telecoder-log-format-test' };
    expect(loadConfig(env).logFormat).toBeUndefined();
    expect(loadConfig({ ...env, LOG_FORMAT: 'json' }).logFormat).toBe('json');
    expect(loadConfig({ ...env, LOG_FORMAT: 'pretty' }).logFormat).toBe('pretty');
    // Probot types process.env.LOG_FORMAT as 'json' | 'pretty'; an operator can still write anything.
    const xml = { ...env, LOG_FORMAT: 'xml' } as unknown as NodeJS.ProcessEnv;
    expect(() => loadConfig(xml)).toThrow(/LOG_FORMAT must be "pretty" or "json"/);
  });
});
