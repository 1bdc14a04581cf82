import { afterEach, describe, expect, it } from 'vitest';
import { useAppHarness } from '../helpers/app-harness.js';
import { setupGitHubMock } from '../helpers/github-mock.js';
import type { ScriptStep } from '../helpers/scripted-llm-server.js';
import { startFakeTelegramApi, TELEGRAM_TEST_TOKEN, type FakeTelegramApi } from '../helpers/fake-telegram-api.js';

const finish = (summary: string) => ({ toolCalls: [{ name: 'finish', arguments: { summary } }] });
const writeFile = (path: string, content: string) => ({ toolCalls: [{ name: 'write_file', arguments: { path, content } }] });

describe('Telegram: a task from a chat ends with the pull request, and strangers start nothing', () => {
  const github = setupGitHubMock();
  const harness = useAppHarness('telegram-task');
  let telegram: FakeTelegramApi;

  afterEach(async () => {
    await telegram?.close();
  });

  async function start(script: ScriptStep[], gitUrl?: string) {
    telegram = await startFakeTelegramApi();
    return harness.start({
      script,
      ...(gitUrl ? { gitUrl } : {}),
      env: {
        TELEGRAM_BOT_TOKEN: TELEGRAM_TEST_TOKEN,
        TELEGRAM_API_ROOT: telegram.url,
        TELEGRAM_ALLOWED_USERS: '42',
        TELEGRAM_DEFAULT_REPO: 'acme/widgets',
      },
    });
  }

  it('/run works on the default repository: one status message edited in place at most every 2 s, then the PR link', async () => {
    const { gitUrl } = harness.remote({ 'README.md': '# Widgets\n' });
    await start([writeFile('health.txt', 'ok\n'), finish('Added health.txt.')], gitUrl);
    github.scope
      .get('/repos/acme/widgets')
      .times(2)
      .reply(200, { default_branch: 'main', html_url: 'https://github.com/acme/widgets' })
      .post('/repos/acme/widgets/pulls')
      .reply(201, { html_url: 'https://github.com/acme/widgets/pull/42', number: 42 });

    telegram.userSays({ userId: 42, username: 'alice', text: '/run add a health file' });
    await telegram.waitForMessage(42, /PR ready: https:\/\/github\.com\/acme\/widgets\/pull\/42/, 120_000);

    const sessions = harness.app.store.listSessions();
    expect(sessions).toHaveLength(1);
    const session = sessions[0]!;
    expect(session).toMatchObject({ repo: 'acme/widgets', prompt: 'add a health file', mode: 'task', status: 'complete' });
    expect(session.origin).toMatchObject({ kind: 'telegram', chatId: 42, userId: 42, requestedBy: '@alice' });

    // The commands are in the chat's menu.
    const commands = telegram.calls.find((call) => call.method === 'setMyCommands')!.payload.commands as Array<{ command: string }>;
    expect(commands.map((c) => c.command)).toEqual(['start', 'help', 'new', 'run', 'status', 'stop', 'pr', 'diff']);

    // Two messages: the status, edited in place, and the outcome.
    const [status, outcome] = telegram.messages;
    expect(telegram.messages).toHaveLength(2);
    expect(status!.text).toMatch(/^✅ Done: TeleCoder session \S+ on acme\/widgets\.$/);
    expect(status!.history.length).toBeGreaterThan(1);
    expect(status!.history.some((text) => /Working|Queued/.test(text))).toBe(true);
    // Edits while running are at least 2 s apart; only the final text may come sooner.
    const gaps = status!.writtenAt.slice(1, -1).map((at, i) => at - status!.writtenAt[i]!);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(1_950);
    expect(outcome!.text).toContain('Added health.txt.');
  });

  it('a user outside TELEGRAM_ALLOWED_USERS is told their id and how to be allowed, and nothing starts', async () => {
    await start([finish('never asked')]);
    telegram.userSays({ userId: 7, text: '/run delete everything' });
    telegram.userSays({ userId: 7, text: 'hello there' });
    const refusal = await telegram.waitForMessage(7, /Your user id is 7/);
    expect(refusal.text).toMatch(/TELEGRAM_ALLOWED_USERS/);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(telegram.textsIn(7)).toHaveLength(2);
    expect(harness.app.store.listSessions()).toEqual([]);
    expect(harness.llm.requests).toEqual([]);
  });
});
