/**
 * RELIABILITY row 14: `kill -9` of the server during clone, agent run, push and PR creation.
 * After a restart there must be no orphan container, no leftover clone, every session resolved
 * within 60 s, and no duplicate pull request.
 *
 * The server runs as a child process (`telecoder serve`) against local stand-ins for GitHub: a
 * git smart-HTTP server for clone and push, behind a proxy that can hold one request in flight,
 * and a fake of the REST API that counts pull requests per head and can hold one creation open.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { containersLabelled, instanceIdOf, networksLabelled } from '../helpers/docker-leftovers.js';
import { git } from '../helpers/git-fixtures.js';
import { gitPost } from '../helpers/github-stand-ins.js';
import { type ScriptStep } from '../helpers/scripted-llm-server.js';
import { useServerProcessHarness } from '../helpers/server-process-harness.js';
import { createSession, getSession, waitForFinalSessions } from '../helpers/session-api.js';
import { waitUntil } from '../helpers/wait-until.js';

const RESOLVED_WITHIN_MS = 60_000;

const write = (path: string, content: string) => ({ toolCalls: [{ name: 'write_file', arguments: { path, content } }] });
const finish = (summary: string) => ({ toolCalls: [{ name: 'finish', arguments: { summary } }] });
/** What session B (queued behind the killed one) does once the server is back. */
const sessionB = [write('b.txt', 'from b\n'), finish('Added b.txt.')];

interface Moment {
  name: string;
  /** The scripted model's answers: session A's requests first, then B's after the restart. */
  script: ScriptStep[];
  /** The git request held in flight when the server is killed. */
  holdGit?: (req: IncomingMessage) => boolean;
  /** The pull request creation is held in flight instead. */
  holdPull?: boolean;
  /** Whether A has a sandbox and a clone on the server at that moment. */
  sandboxAndClone: boolean;
}

const MOMENTS: Moment[] = [
  // The fetch into the repository's mirror, before the sandbox and the clone exist.
  { name: 'clone', script: sessionB, holdGit: gitPost('git-upload-pack'), sandboxAndClone: false },
  { name: 'agent run', script: [{ hang: true }, ...sessionB], sandboxAndClone: true },
  { name: 'push', script: [write('a.txt', 'from a\n'), finish('Added a.txt.'), ...sessionB], holdGit: gitPost('git-receive-pack'), sandboxAndClone: true },
  { name: 'PR creation', script: [write('a.txt', 'from a\n'), finish('Added a.txt.'), ...sessionB], holdPull: true, sandboxAndClone: true },
];

describe('kill -9 of the server at each moment of a task (RELIABILITY row 14)', () => {
  const harness = useServerProcessHarness('kill');

  it.each(MOMENTS)('killed during $name: after restart nothing is left over, every session ends within 60 s, no PR twice', async (moment) => {
    // B waits in the queue while A is at the moment of the kill (the harness runs one session at a time).
    const { standIns, llm, dataDir, startServer } = await harness.setUp({
      script: moment.script,
      ...(moment.holdGit ? { holdGit: moment.holdGit } : {}),
    });
    const { bare, proxy, github } = standIns;
    if (moment.holdPull) github.holdNextPull();

    const first = await startServer();
    const a = (await createSession(first.url, { repo: 'acme/widgets', prompt: 'add a.txt' })).id;
    const b = (await createSession(first.url, { repo: 'acme/widgets', prompt: 'add b.txt' })).id;

    // Wait until A is at the moment.
    if (moment.holdGit) await proxy.waitForHeld();
    else if (moment.holdPull) await github.waitForHeldPull();
    else await waitUntil('the agent to be waiting for the model', () => llm.requests.length > 0);
    expect((await getSession(first.url, a)).status).toBe('running');
    if (moment.sandboxAndClone) {
      expect(containersLabelled(`telecoder.session=${a}`)).not.toEqual([]);
      expect(existsSync(join(dataDir, 'workspaces', a))).toBe(true);
    }
    await first.kill();

    const restarted = Date.now();
    const second = await startServer();
    // Recovery runs before the server listens: A is over, its sandbox and clone are gone.
    const interrupted = await getSession(second.url, a);
    expect(interrupted.status).toBe('error');
    expect(interrupted.error).toMatch(/^interrupted/);
    expect(containersLabelled(`telecoder.session=${a}`)).toEqual([]);
    expect(existsSync(join(dataDir, 'workspaces', a))).toBe(false);

    const [, done] = await waitForFinalSessions(second.url, [a, b], RESOLVED_WITHIN_MS);
    const resolvedMs = Date.now() - restarted;
    console.info(`row 14, killed during ${moment.name}: every session final ${resolvedMs} ms after the restart`);
    expect(resolvedMs).toBeLessThanOrEqual(RESOLVED_WITHIN_MS);
    expect(done!.status, done!.error ?? '').toBe('complete');
    expect(done!.pr_url).not.toBeNull();
    expect(git(bare, 'show', `telecoder/${b}:b.txt`)).toBe('from b');

    // No pull request asked for twice from one head; the held one counts as made.
    const perHead = new Map<string, number>();
    for (const pull of github.pulls) perHead.set(pull.head, (perHead.get(pull.head) ?? 0) + 1);
    expect([...perHead.values()].every((count) => count === 1), JSON.stringify(github.pulls)).toBe(true);
    expect(perHead.get(`telecoder/${b}`)).toBe(1);
    expect(perHead.has(`telecoder/${a}`)).toBe(moment.holdPull === true);
    expect(github.unknown).toEqual([]);

    // Nothing of either session is left: no container, no network, no clone.
    for (const id of [a, b]) {
      expect(containersLabelled(`telecoder.session=${id}`)).toEqual([]);
      expect(networksLabelled(`telecoder.session=${id}`)).toEqual([]);
    }
    expect(readdirSync(join(dataDir, 'workspaces'))).toEqual([]);

    second.child.kill('SIGTERM');
    expect(await second.exited).toEqual({ code: 0, signal: null });
    expect(containersLabelled(`telecoder.instance=${instanceIdOf(dataDir)}`)).toEqual([]);
  }, 300_000);
});
