import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';

const NO_SAVED_APP = { TELECODER_DATA_DIR: '/nonexistent/telecoder-slack-config-test' };
const load = (env: Record<string, string>) => loadConfig({ ...NO_SAVED_APP, ...env });

describe('Slack configuration', () => {
  it('is off without tokens, and on with both, pointing at Slack unless SLACK_API_URL says otherwise', () => {
    expect(load({}).slack).toBeUndefined();
    expect(load({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_APP_TOKEN: 'xapp-1', SLACK_ALLOWED_USERS: 'U1,U2' }).slack).toEqual({
      botToken: 'xoxb-1',
      appToken: 'xapp-1',
      defaultRepo: undefined,
      allowedUsers: 'U1,U2',
      apiUrl: 'https://slack.com/api/',
    });
    // The Web API client appends method names: the slash is added when missing.
    expect(load({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_APP_TOKEN: 'xapp-1', SLACK_API_URL: 'https://slack-gov.com/api' }).slack!.apiUrl).toBe('https://slack-gov.com/api/');
  });

  it('refuses one token without the other, and tokens of the wrong kind, saying where the right one is', () => {
    expect(() => load({ SLACK_BOT_TOKEN: 'xoxb-1' })).toThrow(/SLACK_APP_TOKEN is not: set it to an app-level token \(xapp-…\) with the connections:write scope/);
    expect(() => load({ SLACK_APP_TOKEN: 'xapp-1' })).toThrow(/SLACK_BOT_TOKEN is not: set it to the Bot User OAuth Token/);
    expect(() => load({ SLACK_BOT_TOKEN: 'xapp-1', SLACK_APP_TOKEN: 'xoxb-1' })).toThrow(/SLACK_BOT_TOKEN must be the Bot User OAuth Token, which starts with xoxb-[\s\S]*SLACK_APP_TOKEN must be an app-level token/);
  });

  it('checks SLACK_API_URL like the other URL settings', () => {
    expect(() => load({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_APP_TOKEN: 'xapp-1', SLACK_API_URL: 'slack.example.com/api/' })).toThrow(
      /SLACK_API_URL must start with http:\/\/ or https:\/\//,
    );
    expect(() => load({ SLACK_API_URL: 'https://slack.com/api/   (gov)' })).toThrow(/SLACK_API_URL has spaces in it/);
  });
});
