import { afterEach, describe, expect, it } from 'vitest';
import { useAppHarness } from '../helpers/app-harness.js';
import { containersOf } from '../helpers/docker-leftovers.js';
import { git } from '../helpers/git-fixtures.js';
import { startFakeTelegramApi, TELEGRAM_TEST_TOKEN, type FakeTelegramApi } from '../helpers/fake-telegram-api.js';
import type { ScriptStep } from '../helpers/scripted-llm-server.js';
import { waitForFinal } from '../helpers/test-app.js';

const finish = (summary: string) => ({ toolCalls: [{ name: 'finish', arguments: { summary } }] });
const writeFile = (path: string, content: string) => ({ toolCalls: [{ name: 'write_file', arguments: { path, content } }] });
const runCommand = (command: string) => ({ toolCalls: [{ name: 'run_command', arguments: { command } }] });

describe('Telegram: plain messages are one chat; /status, /diff, /pr and /stop act on it', () => {
  const harness = useAppHarness('telegram-chat');
  let telegram: FakeTelegramApi;

  afterEach(async () => {
    await telegram?.close();
  });

  async function start(script: ScriptStep[]) {
    telegram = await startFakeTelegramApi();
    await harness.start({
      script,
      env: { TELEGRAM_BOT_TOKEN: TELEGRAM_TEST_TOKEN, TELEGRAM_API_ROOT: telegram.url, TELEGRAM_ALLOWED_USERS: '42' },
    });
  }

  /** Waits until the bot has posted `count` messages in chat 42 and no write is pending. */
  async function messagesAfter(count: number, match: RegExp) {
    const found = await telegram.waitForMessage(42, match, 90_000);
    expect(telegram.messages.length).toBeGreaterThanOrEqual(count);
    return found;
  }

  it('a chat goes on across messages in one sandbox; /diff shows the real diff; /pr pushes it; a long answer is cut to 4096', async () => {
    const long = `${'x'.repeat(5_000)} the end`;
    await start([writeFile('notes.txt', 'remember-42\n'), finish('Wrote notes.txt.'), runCommand('cat notes.txt'), finish('notes.txt says remember-42.'), finish(long)]);
    const repo = harness.localRepo({ 'README.md': '# Project\n' });

    telegram.userSays({ userId: 42, text: `write a note --repo ${repo}` });
    await messagesAfter(2, /^Wrote notes\.txt\.$/);
    const [session] = harness.app.store.listSessions();
    expect(session).toMatchObject({ mode: 'chat', repo, prompt: 'write a note', status: 'idle' });
    expect(session!.origin).toMatchObject({ kind: 'telegram', chatId: 42, userId: 42 });

    telegram.userSays({ userId: 42, text: 'what does the note say?' });
    await messagesAfter(4, /^notes\.txt says remember-42\.$/);
    // The same session answered, and the second message ran where the first wrote the file.
    expect(harness.app.store.listSessions()).toHaveLength(1);
    expect(JSON.stringify(harness.llm.requests[3]!.body)).toContain('remember-42');

    telegram.userSays({ userId: 42, text: '/status' });
    await telegram.waitForMessage(42, /waiting for your next message[\s\S]*Mode: chat/);

    telegram.userSays({ userId: 42, text: '/diff' });
    const diff = await telegram.waitForMessage(42, /^Diff of session/);
    expect(diff.text).toContain('notes.txt');
    expect(diff.text).toContain('+remember-42');

    telegram.userSays({ userId: 42, text: '/pr' });
    await telegram.waitForMessage(42, new RegExp(`Pushed to branch telecoder/${session!.id}`));
    expect(git(repo, 'show', `telecoder/${session!.id}:notes.txt`)).toBe('remember-42');

    telegram.userSays({ userId: 42, text: 'say something long' });
    const cut = await telegram.waitForMessage(42, /^x{100}/);
    expect(cut.text.length).toBeLessThanOrEqual(4096);
    expect(cut.text).toMatch(/… \(cut\)$/);
    for (const message of telegram.messages) for (const text of message.history) expect(text.length).toBeLessThanOrEqual(4096);
  });

  it('/stop stops a running task: the status says so, the container is gone, no second outcome', async () => {
    await start([runCommand('sleep 300'), finish('never reached')]);
    const repo = harness.localRepo({ 'README.md': '# Project\n' });
    telegram.userSays({ userId: 42, text: `/run wait a long time --repo ${repo}` });
    const [session] = await (async () => {
      for (;;) {
        const sessions = harness.app.store.listSessions();
        if (sessions[0] && containersOf(sessions[0].id).length > 0 && harness.llm.requests.length > 0) return sessions;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    telegram.userSays({ userId: 42, text: '/stop' });
    await telegram.waitForMessage(42, /^⏹️ Stopped session .*sandbox removed/);
    expect((await waitForFinal(harness.app, session!.id)).status).toBe('stopped');
    expect(containersOf(session!.id)).toEqual([]);
    await telegram.waitForMessage(42, /^⏹️ Stopped: TeleCoder session/);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(telegram.textsIn(42).filter((text) => text.includes('Stopped'))).toHaveLength(2);
  });
});
