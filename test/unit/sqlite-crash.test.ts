/**
 * RELIABILITY row 17: many processes writing to one SQLite file through the real store, some of
 * them killed with SIGKILL while they write. No writer may ever see SQLITE_BUSY, the file must
 * pass `PRAGMA integrity_check` afterwards, and the store must open it again.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteSessionStore } from '../../src/store/sqlite/sqlite-session-store.js';
import { transpileSources } from '../helpers/transpile-sources.js';

const WRITERS = 20;
const KILLED = [0, 4, 9, 14, 19];

/**
 * Writes sessions as the engine does (create, events, a message, status updates, a list) in a
 * loop until told to stop. Each event carries 64 KB so that a commit writes many pages and a kill
 * is likely to land inside one. Prints `ready <instance id>`, then `progress <n>`, then `done <n>`.
 */
const WRITER = `
import { createInterface } from 'node:readline';
const [storeModule, file, worker] = process.argv.slice(2);
const { SqliteSessionStore } = await import(storeModule);
const store = SqliteSessionStore.open({ file });
console.log('ready ' + store.instanceId());
let started = false;
let stopped = false;
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'go') started = true;
  if (line === 'stop') stopped = true;
});
while (!started) await new Promise((resolve) => setTimeout(resolve, 5));
const big = 'x'.repeat(64 * 1024);
let n = 0;
while (!stopped) {
  const id = 'w' + worker + '-' + n;
  store.createSession({ id, repo: 'acme/widgets', prompt: 'p', mode: 'task', branch: 'telecoder/' + id, agent: 'builtin', model: null, origin: { kind: 'test' }, deliveryId: 'd-' + id, deliveryKind: 'test' });
  store.updateSession(id, { status: 'running' });
  store.appendEvent(id, 'output', { worker: Number(worker), n, big });
  store.addMessage(id, 'user', big);
  store.updateSession(id, { status: 'complete', usage: { inputTokens: n, outputTokens: 1, turns: 1 } });
  store.listSessions({ status: 'running', limit: 5 });
  n++;
  console.log('progress ' + n);
  // Lets the 'stop' line in.
  await new Promise((resolve) => setImmediate(resolve));
}
store.close();
console.log('done ' + n);
process.exit(0);
`;

/**
 * Takes the write lock and writes far more than the page cache holds, so uncommitted pages spill
 * into the WAL, then says so and waits to be killed: a writer that dies in the middle of a write
 * transaction, holding the lock the others queue for.
 */
const LOCK_HOLDER = `
import Database from 'better-sqlite3';
const [file] = process.argv.slice(2);
const db = new Database(file);
db.pragma('busy_timeout = 5000');
db.exec('BEGIN IMMEDIATE');
const insert = db.prepare("INSERT INTO events (session_id, type, data, created_at) VALUES ('w1-0', 'output', ?, 'never')");
const page = JSON.stringify('y'.repeat(4096));
for (let i = 0; i < 4000; i++) insert.run(page);
console.log('holding');
Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000);
`;

interface Child {
  lines: string[];
  stderr(): string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitFor(pattern: RegExp): Promise<string>;
  send(line: string): void;
  kill(): void;
}

function startChild(script: string, args: string[]): Child {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters: Array<{ pattern: RegExp; resolve: (line: string) => void }> = [];
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.on('error', () => undefined);
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(line);
    for (const waiter of waiters.filter((w) => w.pattern.test(line))) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(line);
    }
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  return {
    lines,
    stderr: () => stderr,
    exit,
    waitFor: (pattern) => {
      const seen = lines.find((line) => pattern.test(line));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.push({ pattern, resolve });
        void exit.then(({ code, signal }) => reject(new Error(`exited (${code ?? signal}) before printing ${pattern}: ${stderr}`)));
      });
    },
    send: (line) => child.stdin.write(`${line}\n`),
    kill: () => child.kill('SIGKILL'),
  };
}

const lastNumber = (lines: string[], word: string) =>
  Math.max(0, ...lines.filter((line) => line.startsWith(`${word} `)).map((line) => Number(line.split(' ')[1])));

describe('SqliteSessionStore with writers killed mid-write (RELIABILITY row 17)', () => {
  let dir: string;
  let storeModule: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'telecoder-store-crash-'));
    storeModule = transpileSources(join(dir, 'build')).module('src/store/sqlite/sqlite-session-store.ts');
    writeFileSync(join(dir, 'build', 'writer.js'), WRITER);
    writeFileSync(join(dir, 'build', 'lock-holder.js'), LOCK_HOLDER);
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it(`${WRITERS} writers on a new file, ${KILLED.length} of them and a lock holder killed mid-write: no SQLITE_BUSY, integrity ok, every commit whole`, async () => {
    const file = join(dir, 'data', 'telecoder.db');
    // All writers open the not-yet-existing file at once: creation, migrations and the instance id race too.
    const writers = Array.from({ length: WRITERS }, (_, worker) => startChild(join(dir, 'build', 'writer.js'), [storeModule, file, String(worker)]));
    const ready = await Promise.all(writers.map((writer) => writer.waitFor(/^ready /)));
    expect(new Set(ready).size).toBe(1);
    for (const writer of writers) writer.send('go');
    await Promise.all(writers.map((writer) => writer.waitFor(/^progress 3$/)));

    // One process dies holding the write lock with uncommitted pages in the WAL.
    const holder = startChild(join(dir, 'build', 'lock-holder.js'), [file]);
    await holder.waitFor(/^holding$/);
    await new Promise((resolve) => setTimeout(resolve, 300));
    holder.kill();
    // Writers die one by one while all of them are writing.
    for (const index of KILLED) {
      writers[index]!.kill();
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    const before = writers.map((writer) => lastNumber(writer.lines, 'progress'));
    await new Promise((resolve) => setTimeout(resolve, 1000));
    for (const [index, writer] of writers.entries()) if (!KILLED.includes(index)) writer.send('stop');
    const exits = await Promise.all(writers.map((writer) => writer.exit));

    for (const [index, writer] of writers.entries()) {
      expect(writer.stderr()).not.toMatch(/SQLITE_BUSY|database is locked/);
      if (KILLED.includes(index)) expect(exits[index]!.signal).toBe('SIGKILL');
      else expect({ ...exits[index], stderr: writer.stderr() }).toEqual({ code: 0, signal: null, stderr: '' });
    }
    expect((await holder.exit).signal).toBe('SIGKILL');

    const raw = new Database(file);
    expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
    // The lock holder's transaction never committed: none of its rows exist.
    expect(raw.prepare("SELECT count(*) AS n FROM events WHERE created_at = 'never'").get()).toEqual({ n: 0 });
    raw.close();

    const store = SqliteSessionStore.open({ file });
    try {
      expect(store.integrityCheck()).toBe('ok');
      for (const [index, writer] of writers.entries()) {
        const sessions = store.listSessions().filter((session) => session.id.startsWith(`w${index}-`));
        const complete = sessions.filter((session) => session.status === 'complete');
        if (KILLED.includes(index)) {
          // Everything it reported is there; at most the session it was writing when killed is unfinished.
          expect(complete.length).toBeGreaterThanOrEqual(lastNumber(writer.lines, 'progress'));
          expect(sessions.length - complete.length).toBeLessThanOrEqual(1);
        } else {
          expect(complete.length).toBe(lastNumber(writer.lines, 'done'));
          expect(sessions.length).toBe(complete.length);
          // It kept writing after the others were killed.
          expect(complete.length).toBeGreaterThan(before[index]!);
        }
        // Every committed event is whole.
        for (const session of complete) {
          const events = store.listEvents(session.id);
          expect(events).toHaveLength(1);
          expect((events[0]!.data as { big: string }).big).toHaveLength(64 * 1024);
        }
      }
      const total = store.listSessions().length;
      console.info(`row 17: ${WRITERS} writers committed ${total} sessions (each with a 64 KB event and message); ${KILLED.length} writers and a lock holder killed mid-write; integrity_check ok`);
      // And it takes new writes.
      store.createSession({ id: 'after', repo: 'acme/widgets', prompt: 'p', mode: 'task', branch: 'telecoder/after', agent: 'builtin', model: null, origin: { kind: 'test' } });
      expect(store.appendEvent('after', 'output', 'fine').data).toBe('fine');
    } finally {
      store.close();
    }
  }, 180_000);
});
