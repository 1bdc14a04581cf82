/**
 * Issue 14, item 4: the warm pool is swept after a `kill -9`. A server killed with sandboxes made
 * ahead of time, one of them claimed by a running session, leaves containers that carry no session
 * in their labels: whose they are is only in the claims table. The next server must remove them
 * all before it listens, forget their claims, and fill the pool again with new ones.
 *
 * The servers are child processes (`telecoder serve`) on one data dir, with real Docker, a real
 * SQLite file read from outside, local stand-ins for GitHub and a scripted model.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { containerName, containersLabelled, containersWhere, instanceIdOf } from '../helpers/docker-leftovers.js';
import { type ScriptStep } from '../helpers/scripted-llm-server.js';
import { useServerProcessHarness } from '../helpers/server-process-harness.js';
import { createSession, getSession, waitForFinalSessions } from '../helpers/session-api.js';
import { waitUntil } from '../helpers/wait-until.js';

const WARM = 2;
const write = (path: string, content: string) => ({ toolCalls: [{ name: 'write_file', arguments: { path, content } }] });
const finish = (summary: string) => ({ toolCalls: [{ name: 'finish', arguments: { summary } }] });
/** A runs to the end (the pool learns acme/widgets); B then waits on the model until the kill. */
const SCRIPT: ScriptStep[] = [write('a.txt', 'from a\n'), finish('Added a.txt.'), { hang: true }];

interface Claim {
  sandbox_id: string;
  session_id: string;
}

/** The claims table as it is on disk, read from outside the server. */
function claimsIn(dataDir: string): Claim[] {
  const db = new Database(join(dataDir, 'telecoder.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare<[], Claim>('SELECT sandbox_id, session_id FROM sandbox_claims').all();
  } finally {
    db.close();
  }
}

/** Running warm containers of the instance (full ids); a claimed one keeps its warm label. */
function warmContainers(instance: string): string[] {
  return containersWhere([`label=telecoder.instance=${instance}`, 'label=telecoder.warm=true']);
}

/** Whether a container exists in any state. */
function exists(id: string): boolean {
  return containersWhere([`id=${id}`], { all: true }).length > 0;
}

describe('the warm pool after a kill -9 of the server (issue 14, item 4)', () => {
  const harness = useServerProcessHarness('warm');

  it('the next server removes every warm and claimed container before it listens, forgets their claims and fills the pool anew', async () => {
    const { llm, dataDir, startServer } = await harness.setUp({ script: SCRIPT, env: { TELECODER_WARM_SANDBOXES: String(WARM) } });

    const first = await startServer();
    const instance = instanceIdOf(dataDir);
    // A starts cold (the pool knows no repository yet); asking for acme/widgets makes the pool fill.
    const a = (await createSession(first.url, { repo: 'acme/widgets', prompt: 'add a.txt' })).id;
    const [doneA] = await waitForFinalSessions(first.url, [a], 120_000);
    expect(doneA!.status, doneA!.error ?? '').toBe('complete');
    await waitUntil(`${WARM} warm sandboxes of the first server:\n${first.output()}`, () => warmContainers(instance).length === WARM, {
      timeoutMs: 120_000,
      intervalMs: 250,
    });
    const warmBeforeB = warmContainers(instance);

    // B takes a warm sandbox and waits on the model.
    const asked = llm.requests.length;
    const b = (await createSession(first.url, { repo: 'acme/widgets', prompt: 'add b.txt' })).id;
    await waitUntil(`B's agent to wait for the model:\n${first.output()}`, () => llm.requests.length > asked, { timeoutMs: 120_000 });
    expect((await getSession(first.url, b)).status).toBe('running');
    const claimsOfB = claimsIn(dataDir).filter((claim) => claim.session_id === b);
    expect(claimsOfB, JSON.stringify(claimsIn(dataDir))).toHaveLength(1);
    const sandboxOfB = claimsOfB[0]!.sandbox_id;
    expect(warmBeforeB, 'B was given a sandbox made ahead of time').toContain(sandboxOfB);
    // Its labels name no session (they cannot change after creation); its name follows in the background.
    expect(containersLabelled(`telecoder.session=${b}`)).toEqual([]);
    await waitUntil(`B's sandbox to be renamed telecoder-${b}`, () => containerName(sandboxOfB) === `telecoder-${b}`, { intervalMs: 250 });
    await first.kill();

    // Everything of the instance the killed server left: B's sandbox and the warm ones (the refill included).
    const left = containersWhere([`label=telecoder.instance=${instance}`], { all: true });
    expect(left).toContain(sandboxOfB);
    expect(left.filter((id) => id !== sandboxOfB).length, 'warm sandboxes left by the killed server').toBeGreaterThanOrEqual(1);

    const second = await startServer();
    // The sweep runs before the server listens: nothing the killed one left is there any more.
    expect(left.filter(exists), `containers the killed server left, still there once the next one listens:\n${second.output()}`).toEqual([]);
    const interrupted = await getSession(second.url, b);
    expect(interrupted.status).toBe('error');
    expect(interrupted.error).toMatch(/interrupted/);
    const leftClaims = claimsIn(dataDir).filter((claim) => left.includes(claim.sandbox_id) || claim.session_id === b);
    expect(leftClaims).toEqual([]);

    // The pool fills again from the sessions in the store (acme/widgets), with new sandboxes.
    await waitUntil(
      `${WARM} new warm sandboxes of the second server:\n${second.output()}`,
      () => warmContainers(instance).filter((id) => !left.includes(id)).length === WARM,
      { timeoutMs: 120_000, intervalMs: 250 },
    );
    expect(claimsIn(dataDir)).toEqual([]);

    // A drain removes the pool's sandboxes.
    second.child.kill('SIGTERM');
    expect(await second.exited).toEqual({ code: 0, signal: null });
    expect(containersLabelled(`telecoder.instance=${instance}`)).toEqual([]);
  }, 300_000);

  it("a claimed sandbox stops by itself at the session's wall clock when the server is gone, however long it waited in the pool", async () => {
    const WALL_CLOCK_S = 25;
    const { llm, dataDir, startServer } = await harness.setUp({
      script: SCRIPT,
      env: { TELECODER_WARM_SANDBOXES: '1', TELECODER_SANDBOX_TIMEOUT: `${WALL_CLOCK_S}s` },
    });
    const server = await startServer();
    const instance = instanceIdOf(dataDir);
    const a = (await createSession(server.url, { repo: 'acme/widgets', prompt: 'add a.txt' })).id;
    const [doneA] = await waitForFinalSessions(server.url, [a], 120_000);
    expect(doneA!.status, doneA!.error ?? '').toBe('complete');
    await waitUntil(`a warm sandbox:\n${server.output()}`, () => warmContainers(instance).length === 1, { timeoutMs: 120_000, intervalMs: 250 });
    // Its own `sleep` runs from now: the wall clock plus the longest a pool sandbox waits (10 minutes).
    await new Promise((resolve) => setTimeout(resolve, 5_000));

    const asked = llm.requests.length;
    const b = (await createSession(server.url, { repo: 'acme/widgets', prompt: 'add b.txt' })).id;
    await waitUntil(`B's agent to wait for the model:\n${server.output()}`, () => llm.requests.length > asked, { timeoutMs: 120_000 });
    const claimed = Date.now();
    const sandboxOfB = claimsIn(dataDir).find((claim) => claim.session_id === b)?.sandbox_id;
    expect(sandboxOfB).toBeDefined();
    await server.kill();

    // Nobody is left to remove it: the process started at the claim ends it at the wall clock.
    await waitUntil('the claimed sandbox to stop', () => containersWhere([`id=${sandboxOfB!}`]).length === 0, {
      timeoutMs: (WALL_CLOCK_S + 30) * 1000,
      intervalMs: 250,
    });
    const stoppedAfterS = (Date.now() - claimed) / 1000;
    expect(stoppedAfterS).toBeGreaterThan(WALL_CLOCK_S - 5);
    expect(stoppedAfterS).toBeLessThan(WALL_CLOCK_S + 30);
  }, 300_000);
});
