import { describe, expect, it } from 'vitest';
import { useAppHarness } from '../helpers/app-harness.js';
import { runCli } from '../helpers/cli-process.js';
import { git } from '../helpers/git-fixtures.js';
import { setupGitHubMock } from '../helpers/github-mock.js';

const finish = (summary: string) => ({ toolCalls: [{ name: 'finish', arguments: { summary } }] });

describe('telecoder chat: a conversation from the command line, against the real server', () => {
  setupGitHubMock();
  const harness = useAppHarness('cli-chat');

  it('sends each line as a message, prints the replies, /pr pushes the branch, /stop ends the chat', async () => {
    await harness.start({
      script: [
        { toolCalls: [{ name: 'write_file', arguments: { path: 'notes.txt', content: 'remember-42\n' } }] },
        finish('Wrote notes.txt.'),
        { toolCalls: [{ name: 'run_command', arguments: { command: 'cat notes.txt' } }] },
        finish('The note says remember-42.\nNothing else is in it.'),
      ],
    });
    const repo = harness.localRepo({ 'README.md': '# Project\n' });

    // Piped lines arrive at once: each waits until the chat is idle again.
    const chat = await runCli(['chat', '--repo', repo], {
      cwd: harness.dir(),
      env: { TELECODER_SERVER: harness.url },
      input: 'write a note\n/pr\n/frobnicate\nwhat does the note say?\n/stop\n',
    });
    expect(chat.stderr).toBe('telecoder: /frobnicate is not a chat command; /pr opens the pull request, /stop ends the chat, /help lists them\n');
    expect(chat.code).toBe(0);
    const id = /^Chat (\S+) started on /.exec(chat.stdout)?.[1];
    expect(id).toBeDefined();
    const lines = chat.stdout.split('\n');
    const at = (line: string) => {
      const index = lines.indexOf(line);
      expect(index, `"${line}" in:\n${chat.stdout}`).toBeGreaterThan(-1);
      return index;
    };
    const order = [
      at(`Chat ${id} started on ${repo} (branch telecoder/${id})`),
      at('→ write_file: notes.txt'),
      at('Wrote notes.txt.'),
      at(`Pushed to branch telecoder/${id} of ${repo}`),
      at('→ run_command: cat notes.txt'),
      at('  remember-42'),
      // The answer in full, not shortened like a command's output.
      at('The note says remember-42.'),
      at('Nothing else is in it.'),
      at(`Chat ${id} is stopped`),
    ];
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(git(repo, 'show', `telecoder/${id}:notes.txt`)).toBe('remember-42');
    expect(harness.app.store.getSession(id!)?.status).toBe('stopped');
    expect(harness.app.store.listMessages(id!).map((m) => m.content)).toEqual([
      'write a note',
      'Wrote notes.txt.',
      'what does the note say?',
      'The note says remember-42.\nNothing else is in it.',
    ]);
  }, 180_000);
});
