import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const ROOT = resolve(import.meta.dirname, '../..');
const manifest = parse(readFileSync(join(ROOT, 'slack-app.yml'), 'utf8'));
const door = readFileSync(join(ROOT, 'src/channels/slack/slack-channel.ts'), 'utf8');

describe('slack-app.yml, the Slack app manifest', () => {
  it('turns on Socket Mode and interactivity (the Stop button), with no request URL to reach', () => {
    expect(manifest.settings.socket_mode_enabled).toBe(true);
    expect(manifest.settings.interactivity.is_enabled).toBe(true);
    expect(JSON.stringify(manifest)).not.toMatch(/request_url/);
  });

  it('subscribes to the events the door listens to, with the scopes they and its replies need, and no more', () => {
    expect(manifest.settings.event_subscriptions.bot_events).toEqual(['app_mention', 'message.im']);
    expect(door).toContain("app.event('app_mention'");
    expect(door).toContain("message.channel_type !== 'im'");
    expect(manifest.oauth_config.scopes.bot).toEqual(['app_mentions:read', 'chat:write', 'reactions:write', 'im:history']);
    // People can write to the bot: a DM is a chat.
    expect(manifest.features.app_home.messages_tab_enabled).toBe(true);
    expect(manifest.features.app_home.messages_tab_read_only_enabled).toBe(false);
  });
});
