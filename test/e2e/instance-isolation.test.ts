/**
 * Issue 9, item 10: leftovers and neighbours. What a killed server left in its data dir is gone
 * after the next start, and two TeleCoders on one Docker engine never sweep each other's
 * sandboxes, even when both keep their data at the same path (two compose projects mounting
 * their own volume at /data).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { legacyInstanceLabel } from '../../src/sandbox/docker/legacy-sandboxes.js';
import { SqliteSessionStore } from '../../src/store/sqlite/sqlite-session-store.js';
import { containersLabelled } from '../helpers/docker-leftovers.js';
import { git, makeRepo } from '../helpers/git-fixtures.js';
import { ensureTestImage } from '../helpers/sandbox-image.js';
import { startScriptedLLM } from '../helpers/scripted-llm-server.js';
import { startTestApp, type StartedTestApp } from '../helpers/test-app.js';
import { waitUntil } from '../helpers/wait-until.js';

type ScriptedLLM = Awaited<ReturnType<typeof startScriptedLLM>>;

describe('leftovers and neighbours', () => {
  let image: string;
  let tmp: string;
  let llm: ScriptedLLM | undefined;
  const apps: StartedTestApp[] = [];

  beforeAll(async () => {
    image = await ensureTestImage();
  }, 900_000);

  afterEach(async () => {
    // Each app frees its own instance's caches (dependency volumes); the data dir they may share goes last.
    for (const app of apps.splice(0).reverse()) {
      await app.app.engine.pruneCaches().catch(() => undefined);
      await app.stop({ keepData: true });
    }
    await llm?.close();
    llm = undefined;
    rmSync(tmp, { recursive: true, force: true });
  });

  it("two deployments whose data dirs have the same path do not remove each other's sandboxes", async () => {
    tmp = mkdtempSync(join(tmpdir(), 'telecoder-neighbours-'));
    const repo = makeRepo(join(tmp, 'project'), { 'README.md': '# Project\n' });
    llm = await startScriptedLLM([{ hang: true }]);
    // The path both deployments see. Their databases differ, as two compose projects' volumes do.
    const dataDir = join(tmp, 'data');
    const deployment = (name: string) =>
      startTestApp({
        image,
        llmUrl: llm!.url,
        provider: 'anthropic',
        dataDir,
        customize: (builder) => builder.withStore(SqliteSessionStore.open({ file: join(tmp, name, 'telecoder.db') })),
      });

    const first = await deployment('first');
    apps.push(first);
    const id = first.app.engine.submit({ repo, prompt: 'work until stopped' }).id;
    await waitUntil('the agent to wait for the model', () => llm!.requests.length > 0);
    const [container] = containersLabelled(`telecoder.session=${id}`);
    expect(container).toBeDefined();
    expect(containersLabelled(`telecoder.instance=${first.app.store.instanceId()}`)).toEqual([container]);

    // The neighbour starts and sweeps what it believes are its own orphans.
    const second = await deployment('second');
    apps.push(second);
    expect(second.app.store.instanceId()).not.toBe(first.app.store.instanceId());
    expect(containersLabelled(`telecoder.session=${id}`)).toEqual([container]);
    expect(first.app.store.getSession(id)!.status).toBe('running');

    const stopped = await first.app.engine.stop(id);
    expect(stopped.status).toBe('stopped');
    expect(containersLabelled(`telecoder.session=${id}`)).toEqual([]);
  });

  it("after an upgrade, a sandbox labelled the old way (by the data dir's path) is removed if it is this deployment's, kept if a neighbour's", async () => {
    tmp = mkdtempSync(join(tmpdir(), 'telecoder-upgrade-'));
    const dataDir = join(tmp, 'data');
    const store = SqliteSessionStore.open({ file: join(dataDir, 'telecoder.db') });
    store.createSession({ id: 'o1d5e551', repo: 'acme/widgets', prompt: 'p', mode: 'task', branch: 'telecoder/o1d5e551', agent: 'builtin', model: null, origin: { kind: 'api' } });
    // Over already (a pending one would start and try to reach GitHub).
    store.updateSession('o1d5e551', { status: 'error', error: 'interrupted' });
    store.close();
    // What an earlier version left running, and what a neighbour at the same path runs.
    const legacy = legacyInstanceLabel(dataDir);
    const made = (session: string) =>
      execFileSync('docker', ['create', '--label', 'telecoder.managed=true', '--label', `telecoder.instance=${legacy}`, '--label', `telecoder.session=${session}`, image, 'sleep', '60'], { encoding: 'utf8' }).trim();
    const ours = made('o1d5e551');
    const neighbours = made('2e16b0a5');
    try {
      llm = await startScriptedLLM([]);
      apps.push(await startTestApp({ image, llmUrl: llm.url, provider: 'anthropic', dataDir }));
      const left = containersLabelled(`telecoder.instance=${legacy}`);
      expect(left).not.toContain(ours.slice(0, 12));
      expect(left).toContain(neighbours.slice(0, 12));
    } finally {
      // Ours is normally gone already; Docker's complaint about it does not matter.
      execFileSync('docker', ['rm', '-f', ours, neighbours], { stdio: 'ignore' });
    }
  });

  it('a clone, a snapshot archive and a half-made mirror left by a killed server are gone after the next start', async () => {
    tmp = mkdtempSync(join(tmpdir(), 'telecoder-leftovers-'));
    const dataDir = join(tmp, 'data');
    const workspaces = join(dataDir, 'workspaces');
    // What a server killed mid-session leaves: its private clone and the archive for a snapshot.
    makeRepo(join(workspaces, 'deadbeef'), { 'README.md': '# Left behind\n' });
    expect(git(join(workspaces, 'deadbeef'), 'status', '--porcelain')).toBe('');
    writeFileSync(join(workspaces, 'deadbeef.snapshot.tar'), 'tar');
    // A mirror is made aside and renamed into place; a kill in between leaves the stage.
    const mirrors = join(dataDir, 'mirrors');
    const unfinished = `${'0'.repeat(24)}.git.new-4242-1700000000000`;
    mkdirSync(join(mirrors, unfinished), { recursive: true });
    git(join(mirrors, unfinished), 'init', '-q', '--bare');

    llm = await startScriptedLLM([]);
    apps.push(await startTestApp({ image, llmUrl: llm.url, provider: 'anthropic', dataDir }));
    expect(readdirSync(workspaces)).toEqual([]);
    expect(readdirSync(mirrors)).toEqual([]);
  });
});
