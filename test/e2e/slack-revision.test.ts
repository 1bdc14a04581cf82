import { describe, expect, it } from 'vitest';
import { useAppHarness } from '../helpers/app-harness.js';
import { git } from '../helpers/git-fixtures.js';
import { ALICE, GENERAL, startSlackApp } from '../helpers/slack/start-slack-app.js';
import { waitForFinal } from '../helpers/test-app.js';

const finish = (summary: string) => ({ toolCalls: [{ name: 'finish', arguments: { summary } }] });
const writeFile = (path: string, content: string) => ({ toolCalls: [{ name: 'write_file', arguments: { path, content } }] });

describe('Slack: a mention in the thread of a delivered pull request revises it', () => {
  const harness = useAppHarness('slack-revision');

  it('pushes a commit onto the pull request branch instead of opening another pull request', async () => {
    const { slack, github, bare } = await startSlackApp(harness, {
      script: [writeFile('hello.txt', 'v1\n'), finish('Added hello.txt.'), writeFile('hello.txt', 'v2\n'), finish('hello.txt now says v2.')],
    });
    const mention = await slack.mention({ user: ALICE, channel: GENERAL, text: 'add a hello file' });
    await slack.waitForPost((m) => m.threadTs === mention.ts && m.text.includes('PR ready'));
    const first = harness.app.store.listSessions()[0]!;
    const branch = `telecoder/${first.id}`;

    const revise = await slack.mention({ user: ALICE, channel: GENERAL, text: 'make it say v2', threadTs: mention.ts });
    expect(revise.ms).toBeLessThan(1000);
    await waitUntilSessions(2);
    const revision = harness.app.store.listSessions().find((session) => session.id !== first.id)!;
    expect((await waitForFinal(harness.app, revision.id)).status).toBe('complete');

    expect(revision.options.revision).toEqual({ prNumber: 1, prUrl: 'https://github.com/acme/widgets/pull/1', headBranch: branch });
    expect(revision.prompt).toContain('make it say v2');
    expect(revision.origin).toMatchObject({ kind: 'slack', channel: GENERAL, threadTs: mention.ts });
    // The revision went onto the pull request's branch, on top of the first commit; no second pull request.
    expect(git(bare, 'show', `${branch}:hello.txt`)).toBe('v2');
    expect(git(bare, 'rev-list', '--count', branch)).toBe('3');
    expect(github.pulls).toHaveLength(1);
    const outcome = await slack.waitForPost((m) => m.threadTs === mention.ts && m.text.startsWith('✅ Pushed to PR #1'), 10_000);
    expect(outcome.text).toContain('https://github.com/acme/widgets/pull/1');
    expect(outcome.text).toContain('hello.txt now says v2.');
  });

  async function waitUntilSessions(count: number) {
    const deadline = Date.now() + 10_000;
    while (harness.app.store.listSessions().length < count) {
      if (Date.now() > deadline) throw new Error(`expected ${count} sessions`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
});
