import { describe, expect, it } from 'vitest';
import { useAppHarness } from '../helpers/app-harness.js';
import { ALICE, startSlackApp } from '../helpers/slack/start-slack-app.js';
import { TEAM } from '../helpers/slack/slack-stand-in.js';

const finish = (summary: string) => ({ toolCalls: [{ name: 'finish', arguments: { summary } }] });
const writeFile = (path: string, content: string) => ({ toolCalls: [{ name: 'write_file', arguments: { path, content } }] });
const DM = 'D0ALICE';

describe('Slack: a DM is a chat that goes on across messages', () => {
  const harness = useAppHarness('slack-chat');

  it('the first message starts a chat session, the next one continues it in the same sandbox and conversation', async () => {
    const { slack } = await startSlackApp(harness, {
      script: [
        writeFile('notes.txt', 'remember-42\n'),
        finish('Wrote notes.txt.'),
        { toolCalls: [{ name: 'run_command', arguments: { command: 'cat notes.txt' } }] },
        finish('notes.txt says remember-42.'),
      ],
    });

    const first = await slack.dm({ user: ALICE, channel: DM, text: 'write a note' });
    expect(first.ms).toBeLessThan(1000);
    await slack.waitForPost((m) => m.channel === DM && m.text === 'Wrote notes.txt.');
    const [session] = harness.app.store.listSessions();
    expect(session).toMatchObject({ mode: 'chat', repo: 'acme/widgets', origin: { kind: 'slack', team: TEAM, channel: DM, user: ALICE } });
    expect(harness.app.store.conversationSession(`slack:${TEAM}:${DM}`)).toBe(session!.id);

    await slack.dm({ user: ALICE, channel: DM, text: 'what does the note say?' });
    await slack.waitForPost((m) => m.channel === DM && m.text === 'notes.txt says remember-42.');

    // One session; the second message ran where the first left its file, with the conversation so far.
    expect(harness.app.store.listSessions()).toHaveLength(1);
    expect(harness.app.store.listMessages(session!.id).map((m) => [m.role, m.content])).toEqual([
      ['user', 'write a note'],
      ['assistant', 'Wrote notes.txt.'],
      ['user', 'what does the note say?'],
      ['assistant', 'notes.txt says remember-42.'],
    ]);
    expect(JSON.stringify(harness.llm.requests[3]!.body)).toContain('remember-42');
    // 👀 on each message, and replies in the DM itself (no threads).
    expect(slack.api.calls.filter((call) => call.method === 'reactions.add').map((call) => call.args.timestamp)).toEqual([first.ts, expect.any(String)]);
    expect(slack.posted(DM).every((m) => m.threadTs === undefined)).toBe(true);
  });
});
