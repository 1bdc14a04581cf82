import { describe, expect, it } from 'vitest';
import { useAppHarness } from '../helpers/app-harness.js';
import { ALICE, GENERAL, startSlackApp } from '../helpers/slack/start-slack-app.js';
import { waitForFinal } from '../helpers/test-app.js';

const finish = (summary: string) => ({ toolCalls: [{ name: 'finish', arguments: { summary } }] });

describe('Slack: with TELECODER_PUBLIC_URL set, the outcome links to the session\'s dashboard page', () => {
  const harness = useAppHarness('slack-link');

  it('ends the thread\'s outcome message with <public url>/sessions/<id>', async () => {
    const { slack } = await startSlackApp(harness, {
      script: [finish('Nothing needed changing.')],
      env: { TELECODER_PUBLIC_URL: 'https://telecoder.example.com' },
    });
    const mention = await slack.mention({ user: ALICE, channel: GENERAL, text: 'check the readme --repo acme/widgets' });
    const outcome = await slack.waitForPost((m) => m.threadTs === mention.ts && m.text.includes('/sessions/'));
    const [session] = harness.app.store.listSessions();
    expect((await waitForFinal(harness.app, session!.id)).status).toBe('complete');
    expect(outcome.text.endsWith(`\n\nhttps://telecoder.example.com/sessions/${session!.id}`)).toBe(true);
    expect(slack.api.unknown).toEqual([]);
  });
});
