import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { createHttpServer, type RunningHttpServer } from '../../src/server/create-http-server.js';
import { appPrivateKey, deliver, TEST_APP_ID } from '../helpers/github-app-webhooks.js';

const SECRET = 'log-lines-secret';

/** How often `key` occurs as a key in the raw JSON text, duplicates included (JSON.parse keeps only the last). */
function keyCount(line: string, key: string): number {
  return line.match(new RegExp(`(?<!\\\\)"${key}":`, 'g'))?.length ?? 0;
}

/** How often `key` occurs as a key in the parsed object, at any depth. */
function parsedKeyCount(value: unknown, key: string): number {
  if (typeof value !== 'object' || value === null) return 0;
  return Object.entries(value).reduce((count, [name, inner]) => count + (name === key ? 1 : 0) + parsedKeyCount(inner, key), 0);
}

describe("log lines of Probot's parts", () => {
  let running: RunningHttpServer | undefined;
  afterEach(async () => {
    await running?.close();
    running = undefined;
  });

  it('carry "name" once, as TeleCoder\'s, in the raw JSON text', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(...String(chunk).split('\n').filter(Boolean));
        done();
      },
    });
    const prepared = await createHttpServer({
      host: '127.0.0.1',
      port: 0,
      logger: createLogger('trace', sink),
      handlers: [],
      appId: TEST_APP_ID,
      privateKey: appPrivateKey(),
      webhookSecret: SECRET,
      // What an App's handler writes through Probot's own loggers (probot → event children).
      app: (probot) => {
        probot.log.info('from the App');
        probot.on('issues', (context) => context.log.info('from a handler'));
      },
    });
    running = await prepared.listen();
    expect((await deliver(running.url, { event: 'issues', payload: { action: 'opened' }, secret: SECRET })).status).toBe(200);
    // A forged delivery: Probot's webhook middleware logs the refusal itself.
    expect((await deliver(running.url, { event: 'issues', payload: { action: 'opened' }, secret: 'wrong' })).status).toBe(400);

    for (const text of ['from the App', 'from a handler']) expect(lines.some((line) => line.includes(text)), text).toBe(true);
    for (const line of lines) {
      const parsed = JSON.parse(line) as { name?: string };
      expect(parsed.name, line).toBe('telecoder');
      expect(keyCount(line, 'name'), line).toBe(parsedKeyCount(parsed, 'name'));
    }
  });
});
