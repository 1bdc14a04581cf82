import { afterEach, describe, expect, it } from 'vitest';
import { useAppHarness } from '../helpers/app-harness.js';
import { setupGitHubMock } from '../helpers/github-mock.js';
import { startFakeTelegramApi, TELEGRAM_TEST_TOKEN, type FakeTelegramApi } from '../helpers/fake-telegram-api.js';

const finish = (summary: string) => ({ toolCalls: [{ name: 'finish', arguments: { summary } }] });

describe('Telegram: with TELECODER_PUBLIC_URL set, the outcome links to the session\'s dashboard page', () => {
  const github = setupGitHubMock();
  const harness = useAppHarness('telegram-link');
  let telegram: FakeTelegramApi;

  afterEach(async () => {
    await telegram?.close();
  });

  it('ends the outcome message with <public url>/sessions/<id>', async () => {
    const { gitUrl } = harness.remote({ 'README.md': '# Widgets\n' });
    telegram = await startFakeTelegramApi();
    await harness.start({
      script: [finish('Nothing needed changing.')],
      gitUrl,
      env: {
        TELEGRAM_BOT_TOKEN: TELEGRAM_TEST_TOKEN,
        TELEGRAM_API_ROOT: telegram.url,
        TELEGRAM_ALLOWED_USERS: '42',
        TELEGRAM_DEFAULT_REPO: 'acme/widgets',
        TELECODER_PUBLIC_URL: 'https://telecoder.example.com',
      },
    });
    github.scope.get('/repos/acme/widgets').reply(200, { default_branch: 'main', html_url: 'https://github.com/acme/widgets' });

    telegram.userSays({ userId: 42, username: 'alice', text: '/run check the readme' });
    const message = await telegram.waitForMessage(42, /\/sessions\//, 30_000);
    const [session] = harness.app.store.listSessions();
    expect(session!.status).toBe('complete');
    expect(message.text.endsWith(`\n\nhttps://telecoder.example.com/sessions/${session!.id}`)).toBe(true);
  });
});
