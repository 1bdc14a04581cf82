import { describe, expect, it } from 'vitest';
import { useAppHarness } from '../helpers/app-harness.js';
import { ALICE, GENERAL } from '../helpers/slack/start-slack-app.js';
import { startSlackStandIn } from '../helpers/slack/slack-stand-in.js';
import { callApi } from '../helpers/session-api.js';

describe('Slack: a door that cannot connect keeps the server up and connects when it can', () => {
  const harness = useAppHarness('slack-connection');

  it('starts while Slack is unreachable, connects once it answers, and reconnects after a drop', async () => {
    const slack = await startSlackStandIn();
    harness.onCleanup(() => slack.close());
    slack.api.down = true;

    const started = Date.now();
    await harness.start({ script: [], env: { ...slack.env, SLACK_ALLOWED_USERS: '' } });
    // The server is up and serving while the door waits to retry.
    expect(Date.now() - started).toBeLessThan(10_000);
    expect((await callApi(harness.url, 'GET', '/api/sessions')).status).toBe(200);
    expect(slack.socket.connections).toBe(0);

    slack.api.down = false;
    await slack.socket.waitForConnection(15_000);
    const first = await slack.mention({ user: ALICE, channel: GENERAL, text: 'hello' });
    await slack.waitForPost((m) => m.threadTs === first.ts, 5_000);

    // Slack recycles the connection: the door opens a new one (a new apps.connections.open).
    slack.socket.drop();
    const deadline = Date.now() + 15_000;
    while (slack.socket.connections < 2) {
      if (Date.now() > deadline) throw new Error('the door did not reconnect');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await slack.socket.waitForConnection();
    const second = await slack.mention({ user: ALICE, channel: GENERAL, text: 'hello again' });
    await slack.waitForPost((m) => m.threadTs === second.ts, 5_000);
    expect(slack.api.calls.filter((call) => call.method === 'apps.connections.open')).toHaveLength(2);
  });
});
