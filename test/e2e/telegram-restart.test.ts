import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { freePort } from '../../src/server/free-port.js';
import { useAppHarness } from '../helpers/app-harness.js';
import { startFakeTelegramApi, TELEGRAM_TEST_TOKEN, type FakeTelegramApi } from '../helpers/fake-telegram-api.js';
import type { TeleCoderBuilder } from '../../src/telecoder.js';

const finish = (summary: string) => ({ toolCalls: [{ name: 'finish', arguments: { summary } }] });

/** A logger that keeps its JSON lines, to read what the door said. */
function capturedLog(lines: string[]) {
  return (builder: TeleCoderBuilder) => builder.withLogger(createLogger('info', { write: (line: string) => void lines.push(line) }));
}

async function until(check: () => boolean, what: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('Telegram across restarts and trouble: nothing handled twice, the reason logged', () => {
  const harness = useAppHarness('telegram-restart');
  let telegram: FakeTelegramApi;

  afterEach(async () => {
    await telegram?.close();
  });

  const env = () => ({ TELEGRAM_BOT_TOKEN: TELEGRAM_TEST_TOKEN, TELEGRAM_API_ROOT: telegram.url, TELEGRAM_ALLOWED_USERS: '42' });

  it('an update is confirmed only once its session is stored, and one redelivered after a crash starts nothing', async () => {
    telegram = await startFakeTelegramApi();
    const repo = harness.localRepo({ 'README.md': '# Project\n' });
    // Confirmations never reach "Telegram", as when the server dies before its next getUpdates.
    telegram.forgetConfirmations = true;
    const runUpdates: number[] = [];
    const early: string[] = [];
    telegram.onPoll = (offset) => {
      for (const updateId of runUpdates.filter((id) => id < offset)) {
        const stored = harness.app.store.listSessions().some((session) => session.origin.updateId === updateId);
        if (!stored) early.push(`update ${updateId} confirmed (offset ${offset}) before its session was stored`);
      }
    };
    const first = await harness.start({ script: [finish('The answer is 42.'), finish('second answer')], env: env() });
    runUpdates.push(telegram.userSays({ userId: 42, text: `/run what is the answer? --repo ${repo}` }));
    await telegram.waitForMessage(42, /^The answer is 42\.$/);
    // A command that starts nothing is kept from a second run by its delivery claim alone.
    telegram.userSays({ userId: 42, text: '/status' });
    await telegram.waitForMessage(42, /Asked: what is the answer\?/);
    // Both are redelivered on every poll meanwhile; each is handled once.
    const polls = telegram.calls.filter((call) => call.method === 'getUpdates').length;
    await until(() => telegram.calls.filter((call) => call.method === 'getUpdates').length >= polls + 3, 'polls');

    await harness.stop({ keepData: true });
    telegram.onPoll = undefined;
    await harness.start({ dataDir: first.dataDir, env: env() });
    telegram.userSays({ userId: 42, text: '/status' });
    await until(() => telegram.textsIn(42).filter((text) => /Done: TeleCoder session[\s\S]*Asked: what is the answer\?/.test(text)).length === 2, 'the /status answer after the restart');
    await new Promise((resolve) => setTimeout(resolve, 500));

    expect(early).toEqual([]);
    expect(harness.app.store.listSessions()).toHaveLength(1);
    expect(harness.llm.requests).toHaveLength(1);
    expect(telegram.textsIn(42).filter((text) => text === 'The answer is 42.')).toHaveLength(1);
    // One /status before the restart and one after.
    expect(telegram.textsIn(42).filter((text) => /Asked: what is the answer\?/.test(text))).toHaveLength(2);
    // The status message, written once; the /status reply after the restart has more lines.
    expect(telegram.textsIn(42).filter((text) => /^✅ Done[^\n]*$/.test(text))).toHaveLength(1);
  });

  it('a task still queued when the server stopped gets its status message and outcome in the chat after the restart', async () => {
    telegram = await startFakeTelegramApi();
    const repo = harness.localRepo({ 'README.md': '# Project\n' });
    const oneAtATime = { ...env(), TELECODER_MAX_CONCURRENT: '1' };
    const first = await harness.start({ script: [{ hang: true }, finish('The queued one is done.')], env: oneAtATime });
    telegram.userSays({ userId: 42, text: `/run first task --repo ${repo}` });
    await until(() => harness.llm.requests.length === 1, 'the first task asking the model');
    telegram.userSays({ userId: 42, text: `/run second task --repo ${repo}` });
    await until(() => harness.app.store.listSessions().length === 2, 'the second task queued');

    await harness.stop({ keepData: true });
    await harness.start({ dataDir: first.dataDir, env: oneAtATime });
    await telegram.waitForMessage(42, /^The queued one is done\.$/);
    const second = harness.app.store.listSessions().find((session) => session.prompt === 'second task')!;
    expect(second.status).toBe('complete');
  });

  it('stops polling cleanly: what was handled is confirmed, and the next start gets only what came after', async () => {
    telegram = await startFakeTelegramApi();
    const first = await harness.start({ script: [finish('unused')], env: env() });
    telegram.userSays({ userId: 42, text: '/help' });
    await telegram.waitForMessage(42, /Your user id is 42/);
    await harness.stop({ keepData: true });
    const lastOffset = telegram.calls.filter((call) => call.method === 'getUpdates').at(-1)!.payload.offset as number;
    telegram.userSays({ userId: 42, text: '/status' });
    await harness.start({ dataDir: first.dataDir, env: env() });
    await telegram.waitForMessage(42, /No session in this chat yet/);
    expect(lastOffset).toBeGreaterThan(1000);
    expect(telegram.textsIn(42).filter((text) => /Your user id is 42/.test(text))).toHaveLength(1);
  });

  it('a 409 (another poller) is logged as such and retried; the door works once the other poller is gone', async () => {
    telegram = await startFakeTelegramApi();
    telegram.conflict = true;
    const lines: string[] = [];
    await harness.start({ script: [finish('unused')], env: env(), customize: capturedLog(lines) });
    await until(() => lines.some((line) => line.includes('another process is receiving this bot')), 'the 409 log line');
    const line = JSON.parse(lines.find((l) => l.includes('another process is receiving this bot'))!);
    expect(line.msg).toMatch(/stop the other TeleCoder or bot that uses TELEGRAM_BOT_TOKEN.*Retrying in/);
    expect(line.msg).not.toContain(TELEGRAM_TEST_TOKEN);
    telegram.conflict = false;
    telegram.userSays({ userId: 42, text: '/help' });
    await telegram.waitForMessage(42, /Your user id is 42/);
  });

  it('a Bot API that cannot be reached does not stop the server: it says why and keeps trying', async () => {
    telegram = await startFakeTelegramApi();
    const lines: string[] = [];
    const port = await freePort('127.0.0.1');
    const started = await harness.start({
      script: [finish('unused')],
      env: { ...env(), TELEGRAM_API_ROOT: `http://127.0.0.1:${port}` },
      customize: capturedLog(lines),
    });
    expect((await fetch(`${started.url}/health`)).status).toBe(200);
    await until(() => lines.filter((line) => line.includes('cannot reach the Telegram Bot API at http://127.0.0.1:')).length >= 2, 'two retries');
    expect(lines.join('\n')).not.toContain(TELEGRAM_TEST_TOKEN);
  });
});
