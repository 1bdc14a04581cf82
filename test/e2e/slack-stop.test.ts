import { describe, expect, it } from 'vitest';
import { useAppHarness } from '../helpers/app-harness.js';
import { containersOf } from '../helpers/docker-leftovers.js';
import { ALICE, GENERAL, startSlackApp, type SlackApp } from '../helpers/slack/start-slack-app.js';
import { waitForFinal } from '../helpers/test-app.js';
import { waitUntil } from '../helpers/wait-until.js';

const sleepForever = { toolCalls: [{ name: 'run_command', arguments: { command: 'sleep 600' } }] };

describe('Slack: stop really stops (the Stop button, or "@TeleCoder stop" in the thread)', () => {
  const harness = useAppHarness('slack-stop');

  /** A task from Slack, running its command in its container. */
  async function runningTask({ slack }: SlackApp) {
    const mention = await slack.mention({ user: ALICE, channel: GENERAL, text: 'wait a long time' });
    const status = await slack.waitForPost((m) => m.threadTs === mention.ts, 30_000);
    const id = harness.app.store.listSessions()[0]!.id;
    await waitUntil('its command running in its container', () => harness.app.store.listEvents(id).some((event) => event.type === 'tool') && containersOf(id).length > 0, { timeoutMs: 60_000 });
    return { mention, status, id };
  }

  it('the Stop button on the status message stops the session and removes its container', async () => {
    const app = await startSlackApp(harness, { script: [sleepForever] });
    const { mention, status, id } = await runningTask(app);

    const click = await app.slack.click({ user: ALICE, message: status, actionId: 'telecoder_stop' });
    expect(click.ms).toBeLessThan(1000);

    const outcome = await app.slack.waitForPost((m) => m.threadTs === mention.ts && m.text.includes('Stopped session'), 30_000);
    expect(outcome.text).toContain(id);
    expect((await waitForFinal(harness.app, id)).status).toBe('stopped');
    expect(containersOf(id)).toEqual([]);
    // The status message says so, and its button is gone.
    expect(status.text).toContain('Stopped');
    expect(status.blocks ?? []).toEqual([]);
  });

  it('"@TeleCoder stop" in the thread stops the session and removes its container', async () => {
    const app = await startSlackApp(harness, { script: [sleepForever] });
    const { mention, id } = await runningTask(app);

    await app.slack.mention({ user: ALICE, channel: GENERAL, text: 'stop', threadTs: mention.ts });

    await app.slack.waitForPost((m) => m.threadTs === mention.ts && m.text.includes('Stopped session'), 30_000);
    expect((await waitForFinal(harness.app, id)).status).toBe('stopped');
    expect(containersOf(id)).toEqual([]);
    // Stopping is no new task.
    expect(harness.app.store.listSessions()).toHaveLength(1);
  });

  it('a task still queued when the server stopped gets a status message and its outcome in its thread after the restart', async () => {
    const finish = (summary: string) => ({ toolCalls: [{ name: 'finish', arguments: { summary } }] });
    const app = await startSlackApp(harness, { script: [{ hang: true }, finish('The queued one is done.')], env: { TELECODER_MAX_CONCURRENT: '1' } });
    await app.slack.mention({ user: ALICE, channel: GENERAL, text: 'first task' });
    await waitUntil('the first task asking the model', () => harness.llm.requests.length === 1, { timeoutMs: 60_000 });
    const second = await app.slack.mention({ user: ALICE, channel: GENERAL, text: 'second task' });
    await waitUntil('the second task queued', () => harness.app.store.listSessions().length === 2, { timeoutMs: 30_000 });

    await app.restart();
    const outcome = await app.slack.waitForPost((m) => m.threadTs === second.ts && m.text.includes('The queued one is done.'), 60_000);
    expect(outcome.channel).toBe(GENERAL);
    const session = harness.app.store.listSessions().find((candidate) => candidate.prompt === 'second task')!;
    expect(session.status).toBe('complete');
  });
});
