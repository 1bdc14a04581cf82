import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';

const NO_SAVED_APP = { TELECODER_DATA_DIR: '/nonexistent/telecoder-telegram-config-test' };
const load = (env: Record<string, string>) => loadConfig({ ...NO_SAVED_APP, ...env });

describe('Telegram settings', () => {
  it('are off without a token, whatever else is set', () => {
    expect(load({ TELEGRAM_DEFAULT_REPO: 'acme/widgets' }).telegram).toBeUndefined();
  });

  it("take the token, the default repository, the allow-list and Telegram's own API root by default", () => {
    expect(load({ TELEGRAM_BOT_TOKEN: '123:abc', TELEGRAM_DEFAULT_REPO: 'acme/widgets', TELEGRAM_ALLOWED_USERS: ' 42, 7 ' }).telegram).toEqual({
      botToken: '123:abc',
      defaultRepo: 'acme/widgets',
      allowedUsers: '42,7',
      apiRoot: 'https://api.telegram.org',
    });
    expect(load({ TELEGRAM_BOT_TOKEN: '1:a', TELEGRAM_API_ROOT: 'http://127.0.0.1:8081/' }).telegram!.apiRoot).toBe('http://127.0.0.1:8081');
    expect(load({ TELEGRAM_BOT_TOKEN: '1:a', TELEGRAM_ALLOWED_USERS: '*' }).telegram!.allowedUsers).toBe('*');
  });

  it('refuse a @username in the allow-list, saying ids are numbers and where a user finds theirs', () => {
    expect(() => load({ TELEGRAM_BOT_TOKEN: '1:a', TELEGRAM_ALLOWED_USERS: '42,@alice' })).toThrow(
      /TELEGRAM_ALLOWED_USERS must list numeric Telegram user ids .* \(not "@alice"\); a user who writes to the bot is told their id/,
    );
  });
});
