/**
 * RELIABILITY row 15: SIGTERM (what `docker stop` sends, then SIGKILL after 10 s). The server
 * stops taking work at once and drains in under 10 s: the running session ends (interrupted,
 * or finished), its sandbox and clone are removed, queued sessions stay queued for the next
 * start, and the process exits 0.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteSessionStore } from '../../src/store/sqlite/sqlite-session-store.js';
import { containersLabelled } from '../helpers/docker-leftovers.js';
import { gitPost } from '../helpers/github-stand-ins.js';
import { type ScriptStep } from '../helpers/scripted-llm-server.js';
import { useServerProcessHarness } from '../helpers/server-process-harness.js';
import { createSession, getSession } from '../helpers/session-api.js';
import { waitUntil } from '../helpers/wait-until.js';

const DRAIN_LIMIT_MS = 10_000;

interface Moment {
  name: string;
  script: ScriptStep[];
  /** The fetch of the clone is held in flight. */
  holdClone?: boolean;
  /** Whether the session has a sandbox at that moment. */
  sandbox: boolean;
}

const MOMENTS: Moment[] = [
  { name: 'waiting for the model', script: [{ hang: true }], sandbox: true },
  {
    name: 'running a command in the sandbox',
    script: [{ toolCalls: [{ name: 'run_command', arguments: { command: 'echo started > /tmp/started; sleep 600' } }] }],
    sandbox: true,
  },
  { name: 'cloning', script: [], holdClone: true, sandbox: false },
];

describe('SIGTERM drains the server in under 10 s (RELIABILITY row 15)', () => {
  const harness = useServerProcessHarness('drain');

  it.each(MOMENTS)('while $name: refuses new work, ends the session, removes its sandbox and exits 0', async (moment) => {
    const { standIns, llm, dataDir, startServer } = await harness.setUp({
      script: moment.script,
      ...(moment.holdClone ? { holdGit: gitPost('git-upload-pack') } : {}),
    });

    const server = await startServer();
    const running = (await createSession(server.url, { repo: 'acme/widgets', prompt: 'work for a long time' })).id;
    const queued = (await createSession(server.url, { repo: 'acme/widgets', prompt: 'wait your turn' })).id;
    if (moment.holdClone) await standIns.proxy.waitForHeld();
    else await waitUntil('the agent to be at work', () => llm.requests.length >= moment.script.length);
    if (moment.name === 'running a command in the sandbox') await waitUntil('the command to run', () => sandboxHasFile(running, '/tmp/started'));
    expect((await getSession(server.url, running)).status).toBe('running');
    expect(containersLabelled(`telecoder.session=${running}`).length > 0).toBe(moment.sandbox);

    const signalled = Date.now();
    server.child.kill('SIGTERM');
    let exited = false;
    void server.exited.then(() => (exited = true));
    // A request that reached the server before it handled the signal may still be taken (it would
    // run at the next start); from the moment it says it is stopping, none may be.
    await server.waitForOutput('SIGTERM: stopping');
    // Someone keeps asking for work during the drain: every answer is a refusal (503 while the
    // engine drains, then no connection once the listener is closed), never a new session.
    const answers: string[] = [];
    // Past the limit (plus slack for a loaded machine) the drain has failed; stop asking.
    const giveUp = signalled + DRAIN_LIMIT_MS + 5_000;
    while (!exited && Date.now() < giveUp) {
      answers.push(
        await fetch(`${server.url}/api/sessions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ repo: 'acme/widgets', prompt: 'more work' }),
        }).then((response) => String(response.status), () => 'refused'),
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (!exited) throw new Error(`still running ${Date.now() - signalled} ms after SIGTERM:\n${server.output()}`);
    const end = await server.exited;
    // With a sandbox to remove, the drain lasts long enough for the first request after the
    // announcement to land in it, and the listener is still up to say why. (A clone is over at
    // once: the process may be gone before any request arrives.)
    if (moment.sandbox) expect(answers[0]).toBe('503');
    const drainMs = Date.now() - signalled;
    console.info(`row 15, SIGTERM while ${moment.name}: exited ${end.code} after ${drainMs} ms; answers during the drain: ${summarize(answers)}`);
    expect(end, server.output()).toEqual({ code: 0, signal: null });
    expect(drainMs).toBeLessThan(DRAIN_LIMIT_MS);
    expect(answers.filter((answer) => answer !== '503' && answer !== 'refused')).toEqual([]);

    // Nothing of the session is left, and it says why it ended.
    expect(containersLabelled(`telecoder.session=${running}`)).toEqual([]);
    expect(readdirSync(join(dataDir, 'workspaces')).filter((name) => name.startsWith(running))).toEqual([]);
    const store = SqliteSessionStore.open({ file: join(dataDir, 'telecoder.db') });
    try {
      const ended = store.getSession(running)!;
      expect(['error', 'complete']).toContain(ended.status);
      if (ended.status === 'error') expect(ended.error).toMatch(/^interrupted: the TeleCoder server shut down/);
      expect(store.listEvents(running).at(-1)!.type).toBe('done');
      // The queued session was not started: the next start takes it.
      expect(store.getSession(queued)!.status).toBe('pending');
      expect(containersLabelled(`telecoder.session=${queued}`)).toEqual([]);
      // Refused requests stored nothing.
      expect(store.listSessions().map((session) => session.id).sort()).toEqual([running, queued].sort());
    } finally {
      store.close();
    }
  }, 300_000);
});

function sandboxHasFile(sessionId: string, path: string): boolean {
  const [container] = containersLabelled(`telecoder.session=${sessionId}`);
  if (!container) return false;
  try {
    execFileSync('docker', ['exec', container, 'test', '-e', path]);
    return true;
  } catch {
    return false;
  }
}

/** "503 ×12, refused ×3" */
function summarize(answers: string[]): string {
  const counts = new Map<string, number>();
  for (const answer of answers) counts.set(answer, (counts.get(answer) ?? 0) + 1);
  return [...counts].map(([answer, count]) => `${answer} ×${count}`).join(', ') || 'none';
}
