import { describe, expect, it } from 'vitest';
import { useAppHarness } from '../helpers/app-harness.js';
import { git } from '../helpers/git-fixtures.js';
import { ALICE, GENERAL, startSlackApp } from '../helpers/slack/start-slack-app.js';
import { TEAM } from '../helpers/slack/slack-stand-in.js';
import { waitForFinal } from '../helpers/test-app.js';

const finish = (summary: string) => ({ toolCalls: [{ name: 'finish', arguments: { summary } }] });
const writeFile = (path: string, content: string) => ({ toolCalls: [{ name: 'write_file', arguments: { path, content } }] });

describe('Slack: a mention starts a task that ends with the pull request link in its thread', () => {
  const harness = useAppHarness('slack-task');

  it('acks at once, reacts 👀, edits one status message, posts the PR link, and a redelivery starts nothing new', async () => {
    const { slack, github, bare } = await startSlackApp(harness, {
      script: [writeFile('hello.txt', 'hello from slack\n'), finish('Added hello.txt.')],
    });

    const mention = await slack.mention({ user: ALICE, channel: GENERAL, text: 'add a hello file --repo acme/widgets' });
    // Bolt acknowledges before any work: well within Slack's 3 s.
    expect(mention.ms).toBeLessThan(1000);
    // Slack redelivers the same event (it missed the ack, say): same event_id, retry_attempt 1.
    const retry = await slack.mention({ user: ALICE, channel: GENERAL, text: 'add a hello file --repo acme/widgets', eventId: mention.eventId, retryAttempt: 1 });
    expect(retry.ms).toBeLessThan(1000);

    const outcome = await slack.waitForPost((m) => m.text.includes('PR ready'));
    expect(outcome.threadTs).toBe(mention.ts);
    expect(outcome.text).toContain('https://github.com/acme/widgets/pull/1');

    const sessions = harness.app.store.listSessions();
    expect(sessions).toHaveLength(1);
    const session = await waitForFinal(harness.app, sessions[0]!.id);
    expect(session.status).toBe('complete');
    expect(session.origin).toMatchObject({ kind: 'slack', team: TEAM, channel: GENERAL, threadTs: mention.ts, user: ALICE, requestedBy: ALICE });
    expect(session.repo).toBe('acme/widgets');
    expect(session.prompt).toBe('add a hello file');
    expect(git(bare, 'show', `telecoder/${session.id}:hello.txt`)).toBe('hello from slack');
    expect(github.pulls).toHaveLength(1);

    // 👀 on the triggering message.
    const reactions = slack.api.calls.filter((call) => call.method === 'reactions.add');
    expect(reactions.map((call) => call.args)).toEqual([{ channel: GENERAL, timestamp: mention.ts, name: 'eyes' }]);
    // One status message, edited in place to its final state, without the Stop button at the end; then the outcome.
    const thread = slack.posted(GENERAL, mention.ts);
    expect(thread).toHaveLength(2);
    const [status] = thread;
    expect(status!.edits).toBeGreaterThan(0);
    expect(status!.text).toContain(`Done: TeleCoder session ${session.id}`);
    expect(status!.blocks ?? []).toEqual([]);
    // About one write a second in the channel.
    const writes = slack.api.calls.filter((call) => ['chat.postMessage', 'chat.update'].includes(call.method) && call.args.channel === GENERAL);
    for (let i = 1; i < writes.length; i++) expect(writes[i]!.at - writes[i - 1]!.at).toBeGreaterThanOrEqual(900);

    // A redelivery after the work is done still starts nothing.
    await slack.mention({ user: ALICE, channel: GENERAL, text: 'add a hello file --repo acme/widgets', eventId: mention.eventId, retryAttempt: 2 });
    // Longer than the 1 s between two posts in a channel: a second reply would have arrived.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(harness.app.store.listSessions()).toHaveLength(1);
    expect(slack.posted(GENERAL)).toHaveLength(2);
    expect(slack.api.unknown).toEqual([]);
  });

  it('refuses a user outside SLACK_ALLOWED_USERS with their id and how to get access, and starts nothing', async () => {
    const { slack } = await startSlackApp(harness, { script: [finish('never used')], env: { SLACK_ALLOWED_USERS: '' } });

    const mention = await slack.mention({ user: ALICE, channel: GENERAL, text: 'delete everything' });
    const refusal = await slack.waitForPost((m) => m.threadTs === mention.ts, 10_000);
    expect(refusal.text).toContain(`Your user id is ${ALICE}`);
    expect(refusal.text).toContain('SLACK_ALLOWED_USERS');

    // Slack's redelivery of that event is answered once, not twice.
    await slack.mention({ user: ALICE, channel: GENERAL, text: 'delete everything', eventId: mention.eventId, retryAttempt: 1 });
    // Longer than the 1 s between two posts in a channel: a second reply would have arrived.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(harness.app.store.listSessions()).toHaveLength(0);
    expect(harness.llm.requests).toHaveLength(0);
    expect(slack.api.calls.filter((call) => call.method === 'reactions.add')).toEqual([]);
    expect(slack.posted(GENERAL)).toHaveLength(1);
  });
});
