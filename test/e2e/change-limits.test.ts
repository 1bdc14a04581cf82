import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { useAppHarness } from '../helpers/app-harness.js';
import { git } from '../helpers/git-fixtures.js';
import { waitForFinal } from '../helpers/test-app.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;

/** The model's side: one shell command in the sandbox, then done. */
function agentRuns(command: string) {
  return [
    { toolCalls: [{ name: 'run_command', arguments: { command } }] },
    { toolCalls: [{ name: 'finish', arguments: { summary: 'done' } }] },
  ];
}

/**
 * The largest resident size seen, in bytes, of this process (the server runs in it) and of all its
 * git child processes together (the server's git), sampled until stopped.
 */
function watchMemory() {
  const baseline = process.memoryUsage().rss;
  let serverPeak = baseline;
  let gitPeak = 0;
  let stopped = false;
  const sampling = (async () => {
    while (!stopped) {
      serverPeak = Math.max(serverPeak, process.memoryUsage().rss);
      const { stdout } = await run('ps', ['-e', '-o', 'ppid=,rss=,comm=']).catch(() => ({ stdout: '' }));
      let git = 0;
      for (const line of stdout.split('\n')) {
        const [ppid, rss, comm] = line.trim().split(/\s+/);
        if (Number(ppid) === process.pid && comm === 'git') git += Number(rss) * 1024;
      }
      gitPeak = Math.max(gitPeak, git);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  return async () => {
    stopped = true;
    await sampling;
    return { serverGrowth: serverPeak - baseline, gitPeak };
  };
}

describe('change limits, with the real sandbox and real git', () => {
  const harness = useAppHarness('e2e-limits');

  async function runSession(command: string, env: Record<string, string> = {}) {
    const repo = harness.localRepo({ 'README.md': '# Widgets\n' });
    const started = await harness.start({ script: agentRuns(command), env });
    const response = await fetch(`${started.url}/api/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ repo, prompt: 'make the change' }),
    });
    expect(response.status).toBe(201);
    const { id } = (await response.json()) as { id: string };
    const session = await waitForFinal(started.app, id, 300_000);
    // The command really ran: its output went back to the model.
    expect(JSON.stringify(harness.llm.requests.at(-1)!.body)).toContain('ran-it');
    const branches = git(repo, 'branch', '--list', 'telecoder/*');
    return { session, repo, branches };
  }

  it('500 MB of zeros and a 3 GB sparse file are refused in the sandbox, by name and size; nothing is pushed and the server stays small', async () => {
    const memory = watchMemory();
    const { session, branches } = await runSession('head -c 500M /dev/zero > zeros.bin && truncate -s 3G sparse.img && echo ran-it');
    const { serverGrowth, gitPeak } = await memory();

    expect(session.status).toBe('error');
    expect(session.error).toMatch(
      /the agent's change is too large to deliver: its 2 changed file\(s\) come to 3\.49 GB, over the 100 MB limit; the largest: sparse\.img \(3 GB\), zeros\.bin \(500 MB\)\./,
    );
    expect(session.error).toMatch(/raise TELECODER_MAX_CHANGE_SIZE/);
    expect(session.error).not.toMatch(/deleted or rewritten \.git/);
    expect(branches).toBe('');
    // Nothing of the change reached the server: neither this process nor its git grew with it.
    expect(serverGrowth).toBeLessThan(150 * MiB);
    expect(gitPeak).toBeLessThan(100 * MiB);
  }, 400_000);

  it('a change of more files than TELECODER_MAX_CHANGE_FILES is refused, and nothing is pushed', async () => {
    const { session, branches } = await runSession('mkdir many && for i in $(seq 1 60); do echo $i > many/f$i.txt; done && echo ran-it', {
      TELECODER_MAX_CHANGE_FILES: '50',
    });
    expect(session.status).toBe('error');
    expect(session.error).toMatch(/the agent's change touches 60 files, over the limit of 50; the largest: .*raise TELECODER_MAX_CHANGE_FILES/);
    expect(branches).toBe('');
  }, 400_000);

  it('a change within tight limits is delivered byte for byte: binary, and text that is not UTF-8', async () => {
    const { session, repo, branches } = await runSession(
      // 100 KiB of every byte value, and Latin-1 text (0xe9 is "é"): the patch is carried as bytes.
      "python3 -c \"import sys; sys.stdout.buffer.write(bytes(range(256)) * 400)\" > table.bin && printf 'caf\\351\\n' > latin1.txt && echo ran-it",
      { TELECODER_MAX_CHANGE_SIZE: '1mb', TELECODER_MAX_CHANGE_FILES: '2' },
    );
    expect(session.error).toBeNull();
    expect(session.status).toBe('complete');
    const branch = `telecoder/${session.id}`;
    expect(branches).toBe(branch);
    const blob = (path: string) => execFileSync('git', ['show', `${branch}:${path}`], { cwd: repo, maxBuffer: 4 * MiB });
    const table = Buffer.alloc(256 * 400, 0).map((_, index) => index % 256);
    expect(createHash('sha256').update(blob('table.bin')).digest('hex')).toBe(createHash('sha256').update(table).digest('hex'));
    expect(blob('latin1.txt').equals(Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a]))).toBe(true);
  }, 400_000);
});
