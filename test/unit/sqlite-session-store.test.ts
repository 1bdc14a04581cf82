import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import ts from 'typescript';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConflictError, DuplicateDeliveryError, NotFoundError } from '../../src/errors.js';
import type { NewSession } from '../../src/store/session-store.js';
import { LATEST_SCHEMA_VERSION, MIGRATIONS, migrate, type Migration } from '../../src/store/sqlite/migrations.js';
import { SqliteSessionStore } from '../../src/store/sqlite/sqlite-session-store.js';
import { oldDatabase } from '../helpers/old-database.js';

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const REPO_ROOT = resolve(import.meta.dirname, '../..');

function newSession(id: string, overrides: Partial<NewSession> = {}): NewSession {
  return {
    id,
    repo: 'acme/widgets',
    prompt: `fix bug ${id}`,
    mode: 'task',
    branch: `telecoder/${id}`,
    agent: 'builtin',
    model: 'gpt-test',
    origin: { kind: 'api', requestedBy: 'alice', thread: { channel: 'C1', ts: '17.5' } },
    ...overrides,
  };
}

let dir: string;
let file: string;
const opened: SqliteSessionStore[] = [];

function open(path = file): SqliteSessionStore {
  const store = SqliteSessionStore.open({ file: path });
  opened.push(store);
  return store;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'telecoder-store-'));
  file = join(dir, 'data', 'telecoder.db');
});

afterEach(() => {
  vi.useRealTimers();
  for (const store of opened.splice(0)) store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('SqliteSessionStore sessions', () => {
  it('creates a session with defaults and reads it back', () => {
    const store = open();
    const created = store.createSession(newSession('s1', { model: null }));

    expect(created).toEqual({
      id: 's1',
      repo: 'acme/widgets',
      prompt: 'fix bug s1',
      mode: 'task',
      status: 'pending',
      branch: 'telecoder/s1',
      agent: 'builtin',
      model: null,
      prUrl: null,
      prNumber: null,
      result: null,
      error: null,
      origin: { kind: 'api', requestedBy: 'alice', thread: { channel: 'C1', ts: '17.5' } },
      options: {},
      usage: { inputTokens: 0, outputTokens: 0, turns: 0 },
      createdAt: expect.stringMatching(ISO_MS),
      updatedAt: created.createdAt,
    });
    expect(store.getSession('s1')).toEqual(created);
    expect(store.getSession('nope')).toBeUndefined();
  });

  it('updates every field, keeps unpatched ones and can clear fields to null', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2030-01-02T03:04:05.006Z'));
    const store = open();
    store.createSession(newSession('s1', { mode: 'chat' }));

    vi.setSystemTime(new Date('2030-01-02T03:04:06.789Z'));
    const updated = store.updateSession('s1', {
      status: 'complete',
      prUrl: 'https://github.com/acme/widgets/pull/7',
      prNumber: 7,
      result: { type: 'pr', content: 'Done', prUrl: 'https://github.com/acme/widgets/pull/7', prNumber: 7, branch: 'b' },
      error: 'transient',
      model: 'claude-test',
      usage: { inputTokens: 1200, outputTokens: 340, turns: 5 },
    });
    expect(updated).toMatchObject({
      id: 's1',
      mode: 'chat',
      status: 'complete',
      prUrl: 'https://github.com/acme/widgets/pull/7',
      prNumber: 7,
      result: { type: 'pr', content: 'Done', prUrl: 'https://github.com/acme/widgets/pull/7', prNumber: 7, branch: 'b' },
      error: 'transient',
      model: 'claude-test',
      usage: { inputTokens: 1200, outputTokens: 340, turns: 5 },
      createdAt: '2030-01-02T03:04:05.006Z',
      updatedAt: '2030-01-02T03:04:06.789Z',
    });
    expect(store.getSession('s1')).toEqual(updated);

    // A patch touches only what it names; explicit null clears.
    const cleared = store.updateSession('s1', { error: null, result: null });
    expect(cleared).toEqual({ ...updated, error: null, result: null });
    const statusOnly = store.updateSession('s1', { status: 'idle' });
    expect(statusOnly).toEqual({ ...cleared, status: 'idle' });
  });

  it('throws a NotFoundError naming the id when updating an unknown session', () => {
    const store = open();
    expect(() => store.updateSession('ghost', { status: 'running' })).toThrow(NotFoundError);
    expect(() => store.updateSession('ghost', { status: 'running' })).toThrow(/ghost/);
    expect(store.listSessions()).toEqual([]);
  });

  it('refuses a duplicate id with a ConflictError', () => {
    const store = open();
    store.createSession(newSession('s1'));
    expect(() => store.createSession(newSession('s1', { prompt: 'other' }))).toThrow(ConflictError);
    expect(store.getSession('s1')?.prompt).toBe('fix bug s1');
  });

  it('lists newest first, breaking same-millisecond ties by insertion order', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const store = open();
    vi.setSystemTime(new Date('2030-01-01T00:00:00.000Z'));
    store.createSession(newSession('old'));
    vi.setSystemTime(new Date('2030-01-01T00:00:01.000Z'));
    store.createSession(newSession('tie-a'));
    store.createSession(newSession('tie-b'));
    store.createSession(newSession('tie-c'));
    vi.setSystemTime(new Date('2030-01-01T00:00:00.500Z')); // clock stepped back: order follows created_at
    store.createSession(newSession('middle'));

    expect(store.listSessions().map((s) => s.id)).toEqual(['tie-c', 'tie-b', 'tie-a', 'middle', 'old']);
    expect(store.listSessions({ limit: 2 }).map((s) => s.id)).toEqual(['tie-c', 'tie-b']);
    expect(store.listSessions({ limit: 0 })).toEqual([]);
    expect(() => store.listSessions({ limit: -1 })).toThrow(/non-negative integer/);
    expect(() => store.listSessions({ limit: 1.5 })).toThrow(/non-negative integer/);
  });

  it('filters by one status or several, with a limit', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const store = open();
    const statuses = ['running', 'pending', 'complete', 'running', 'error'] as const;
    statuses.forEach((status, i) => {
      vi.setSystemTime(new Date(Date.UTC(2030, 0, 1, 0, 0, i)));
      store.createSession(newSession(`s${i}`));
      if (status !== 'pending') store.updateSession(`s${i}`, { status });
    });

    expect(store.listSessions({ status: 'running' }).map((s) => s.id)).toEqual(['s3', 's0']);
    expect(store.listSessions({ status: ['pending', 'error'] }).map((s) => s.id)).toEqual(['s4', 's1']);
    expect(store.listSessions({ status: ['running', 'complete'], limit: 2 }).map((s) => s.id)).toEqual(['s3', 's2']);
    expect(store.listSessions({ status: [] })).toEqual([]);
    expect(store.listSessions({ status: 'stopped' })).toEqual([]);
  });
});

describe('SqliteSessionStore events and messages', () => {
  it('returns events oldest first, filters by afterId and round-trips any JSON data', () => {
    const store = open();
    store.createSession(newSession('s1'));
    const datas: unknown[] = ['running', { step: 1, total: 3, title: 'Plan', status: 'done' }, [1, 'two', null], 42, null];
    const appended = datas.map((data, i) => store.appendEvent('s1', i === 0 ? 'status' : 'output', data));

    expect(appended.map((e) => e.data)).toEqual(datas);
    for (const event of appended) {
      expect(event.sessionId).toBe('s1');
      expect(event.createdAt).toMatch(ISO_MS);
    }
    expect(store.listEvents('s1')).toEqual(appended);
    expect(store.listEvents('s1', appended[1]!.id)).toEqual(appended.slice(2));
    expect(store.listEvents('s1', appended[4]!.id)).toEqual([]);
    expect(store.listEvents('other')).toEqual([]);
  });

  it('stores undefined event data as null', () => {
    const store = open();
    store.createSession(newSession('s1'));
    const event = store.appendEvent('s1', 'done', undefined);
    expect(event.data).toBeNull();
    expect(store.listEvents('s1')[0]?.data).toBeNull();
  });

  it('gives event ids that increase across the whole store', () => {
    const store = open();
    store.createSession(newSession('a'));
    store.createSession(newSession('b'));
    const ids = [
      store.appendEvent('a', 'output', 'a1').id,
      store.appendEvent('b', 'output', 'b1').id,
      store.appendEvent('a', 'output', 'a2').id,
      store.appendEvent('b', 'output', 'b2').id,
    ];
    expect(ids).toEqual([...ids].sort((x, y) => x - y));
    expect(new Set(ids).size).toBe(4);
    expect(store.listEvents('a').map((e) => e.data)).toEqual(['a1', 'a2']);
    expect(store.listEvents('b', ids[0]).map((e) => e.data)).toEqual(['b1', 'b2']);
  });

  it('refuses events and messages for an unknown session (foreign keys are on)', () => {
    const store = open();
    expect(() => store.appendEvent('ghost', 'output', 'x')).toThrow(NotFoundError);
    expect(() => store.addMessage('ghost', 'user', 'hi')).toThrow(/ghost/);
  });

  it('stores chat messages per session in order', () => {
    const store = open();
    store.createSession(newSession('a', { mode: 'chat' }));
    store.createSession(newSession('b', { mode: 'chat' }));
    const first = store.addMessage('a', 'user', 'Add a README');
    store.addMessage('b', 'user', 'unrelated');
    const second = store.addMessage('a', 'assistant', 'Added README.md');

    expect(first).toEqual({ id: expect.any(Number), sessionId: 'a', role: 'user', content: 'Add a README', createdAt: expect.stringMatching(ISO_MS) });
    expect(second.id).toBeGreaterThan(first.id);
    expect(store.listMessages('a')).toEqual([first, second]);
    expect(store.listMessages('b').map((m) => m.content)).toEqual(['unrelated']);
    expect(store.listMessages('c')).toEqual([]);
  });

  it('a message with a delivery id is stored once with its delivery: a second one adds nothing', () => {
    const store = open();
    store.createSession(newSession('a', { mode: 'chat' }));
    // Claimed first (as a door does while it checks), then bound by the message.
    expect(store.claimDelivery('telegram:7', 'telegram')).toBe(true);
    store.addMessage('a', 'user', 'first', { id: 'telegram:7', kind: 'telegram' });
    expect(() => store.addMessage('a', 'user', 'first again', { id: 'telegram:7', kind: 'telegram' })).toThrow(DuplicateDeliveryError);
    // Unclaimed: the message records it.
    store.addMessage('a', 'user', 'second', { id: 'telegram:8', kind: 'telegram' });
    expect(() => store.addMessage('a', 'user', 'second again', { id: 'telegram:8', kind: 'telegram' })).toThrow(DuplicateDeliveryError);
    expect(store.claimDelivery('telegram:8', 'telegram')).toBe(false);
    expect(store.listMessages('a').map((m) => m.content)).toEqual(['first', 'second']);
  });

  it('binds conversations to their current session and keeps a diff per session', () => {
    const store = open();
    store.createSession(newSession('a', { mode: 'chat' }));
    store.createSession(newSession('b', { mode: 'chat' }));
    expect(store.conversationSession('telegram:42')).toBeUndefined();
    store.bindConversation('telegram:42', 'a');
    store.bindConversation('telegram:42', 'b');
    expect(store.conversationSession('telegram:42')).toBe('b');
    expect(store.getDiff('a')).toBeUndefined();
    store.saveDiff('a', 'diff one');
    store.saveDiff('a', 'diff two');
    expect(store.getDiff('a')).toBe('diff two');
  });
});

describe('SqliteSessionStore file, pragmas and migrations', () => {
  it('creates the parent directory private to its owner', () => {
    const nested = join(dir, 'deep', 'er', 'telecoder.db');
    open(nested);
    expect(statSync(join(dir, 'deep')).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'deep', 'er')).mode & 0o777).toBe(0o700);
    expect(existsSync(nested)).toBe(true);
  });

  it('keeps everything across close and reopen, without re-running migrations', () => {
    const first = SqliteSessionStore.open({ file });
    const session = first.createSession(newSession('s1'));
    const updated = first.updateSession('s1', { status: 'complete', result: { type: 'text', content: 'nothing to change' } });
    const event = first.appendEvent('s1', 'result', updated.result);
    const message = first.addMessage('s1', 'user', 'hello');
    first.close();
    first.close(); // idempotent

    const second = open();
    expect(second.getSession('s1')).toEqual(updated);
    expect(second.getSession('s1')?.createdAt).toBe(session.createdAt);
    expect(second.listEvents('s1')).toEqual([event]);
    expect(second.listMessages('s1')).toEqual([message]);
    // Ids keep increasing after a reopen (AUTOINCREMENT never reuses them).
    expect(second.appendEvent('s1', 'done', null).id).toBeGreaterThan(event.id);
    second.close();

    const raw = new Database(file, { readonly: true });
    try {
      expect(raw.pragma('user_version', { simple: true })).toBe(LATEST_SCHEMA_VERSION);
      const tables = raw
        .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .all()
        .map((row) => row.name);
      expect(tables).toEqual(['conversations', 'deliveries', 'events', 'messages', 'meta', 'sandbox_claims', 'session_diffs', 'sessions', 'webhook_inbox']);
    } finally {
      raw.close();
    }
  });

  it('runs in WAL mode and passes the integrity check', () => {
    const store = open();
    store.createSession(newSession('s1'));
    // journal_mode=WAL is stored in the file, so a second connection sees it.
    const raw = new Database(file, { readonly: true });
    try {
      expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      raw.close();
    }
    expect(existsSync(`${file}-wal`)).toBe(true);
    expect(store.integrityCheck()).toBe('ok');
  });

  it('refuses a database written by a newer TeleCoder and leaves it untouched', () => {
    mkdirSync(dirname(file), { recursive: true });
    const raw = new Database(file);
    raw.pragma(`user_version = ${LATEST_SCHEMA_VERSION + 1}`);
    raw.close();
    const before = readFileSync(file);

    expect(() => SqliteSessionStore.open({ file })).toThrow(/newer TeleCoder\. Upgrade TeleCoder/);
    expect(readFileSync(file).equals(before)).toBe(true);
    expect(existsSync(`${file}-wal`)).toBe(false);
  });

  it('applies each migration in its own transaction: a failing one leaves the previous version', () => {
    const db = new Database(':memory:');
    try {
      const next = LATEST_SCHEMA_VERSION + 1;
      const failing: Migration = {
        version: next,
        description: 'half done',
        up(d) {
          d.exec('CREATE TABLE half (x INTEGER)');
          throw new Error('boom');
        },
      };
      expect(() => migrate(db, [...MIGRATIONS, failing])).toThrow('boom');
      expect(db.pragma('user_version', { simple: true })).toBe(LATEST_SCHEMA_VERSION);
      expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'half'").get()).toBeUndefined();
      expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'sessions'").get()).toBeDefined();

      const second: Migration = { version: next, description: 'ok', up: (d) => d.exec('CREATE TABLE later (x INTEGER)') };
      migrate(db, [...MIGRATIONS, second]);
      migrate(db, [...MIGRATIONS, second]); // idempotent
      expect(db.pragma('user_version', { simple: true })).toBe(next);
      expect(() => migrate(db, [...MIGRATIONS, { ...second, version: next + 1 }])).toThrow(/numbered 1, 2, 3/);
    } finally {
      db.close();
    }
  });
});

/**
 * Compiles the store and what it imports into a temp dir as plain ESM, so that child processes
 * (plain `node`, which cannot load .ts) run exactly the code under test.
 */
function compileStoreForNode(outDir: string): string {
  const entry = join(REPO_ROOT, 'src/store/sqlite/sqlite-session-store.ts');
  const pending = [entry];
  const done = new Set<string>();
  while (pending.length > 0) {
    const source = pending.pop()!;
    if (done.has(source)) continue;
    done.add(source);
    const output = ts.transpileModule(readFileSync(source, 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
      fileName: source,
    }).outputText;
    const target = join(outDir, relative(REPO_ROOT, source)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, output);
    for (const match of output.matchAll(/from '(\.\.?\/[^']+)\.js'/g)) {
      pending.push(resolve(dirname(source), `${match[1]}.ts`));
    }
  }
  writeFileSync(join(outDir, 'package.json'), '{"type":"module"}');
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(outDir, 'node_modules'), 'dir');
  return join(outDir, relative(REPO_ROOT, entry)).replace(/\.ts$/, '.js');
}

const WRITER = `
import { createInterface } from 'node:readline';
const [storeModule, file, worker, count] = process.argv.slice(2);
const { SqliteSessionStore } = await import(storeModule);
const store = SqliteSessionStore.open({ file });
const id = 'writer-' + worker;
store.createSession({ id, repo: 'acme/widgets', prompt: 'p', mode: 'task', branch: 'telecoder/' + id, agent: 'builtin', model: null, origin: { kind: 'test' } });
console.log('ready');
// Wait for the go signal so all writers hammer the file at the same moment.
for await (const line of createInterface({ input: process.stdin })) { if (line === 'go') break; }
for (let i = 0; i < Number(count); i++) store.appendEvent(id, 'output', { worker: Number(worker), i });
store.updateSession(id, { status: 'complete' });
store.close();
console.log('done');
process.exit(0);
`;

interface Writer {
  ready: Promise<void>;
  exit: Promise<{ code: number | null; stderr: string }>;
  go(): void;
}

function startWriter(script: string, storeModule: string, worker: number, count: number): Writer {
  const child = spawn(process.execPath, [script, storeModule, file, String(worker), String(count)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exit = new Promise<{ code: number | null; stderr: string }>((resolveExit) =>
    child.on('close', (code) => resolveExit({ code, stderr })),
  );
  const ready = new Promise<void>((resolveReady, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => line === 'ready' && resolveReady());
    void exit.then(({ code }) => reject(new Error(`writer ${worker} exited (${code}) before ready: ${stderr}`)));
  });
  return { ready, exit, go: () => child.stdin.end('go\n') };
}

describe('SqliteSessionStore under concurrent writers', () => {
  it('20 processes opening a fresh file and appending at once: no SQLITE_BUSY, every row, intact file', async () => {
    const WRITERS = 20;
    const EVENTS = 150;
    const build = join(dir, 'build');
    const storeModule = compileStoreForNode(build);
    const script = join(build, 'writer.mjs');
    writeFileSync(script, WRITER);

    // All writers open the not-yet-existing file together, racing on creation and migration too.
    const writers = Array.from({ length: WRITERS }, (_, i) => startWriter(script, storeModule, i, EVENTS));
    await Promise.all(writers.map((w) => w.ready));
    for (const writer of writers) writer.go();
    const results = await Promise.all(writers.map((w) => w.exit));

    for (const result of results) {
      expect(result.stderr).not.toMatch(/SQLITE_BUSY|locked/);
      expect(result).toEqual({ code: 0, stderr: '' });
    }

    const store = open();
    expect(store.integrityCheck()).toBe('ok');
    const sessions = store.listSessions();
    expect(sessions).toHaveLength(WRITERS);
    expect(sessions.every((s) => s.status === 'complete')).toBe(true);
    const allIds: number[] = [];
    for (let worker = 0; worker < WRITERS; worker++) {
      const events = store.listEvents(`writer-${worker}`);
      expect(events.map((e) => e.data)).toEqual(Array.from({ length: EVENTS }, (_, i) => ({ worker, i })));
      allIds.push(...events.map((e) => e.id));
    }
    expect(new Set(allIds).size).toBe(WRITERS * EVENTS);
  }, 120_000);
});

describe('SqliteSessionStore deliveries and task options', () => {
  it('stores task options with the session', () => {
    const store = open();
    const options = { revision: { prNumber: 3, prUrl: 'https://x/pull/3', headBranch: 'telecoder/abc' }, issueNumber: 9, draft: true };
    store.createSession(newSession('o1', { options }));
    expect(store.getSession('o1')!.options).toEqual(options);
    expect(store.createSession(newSession('o2')).options).toEqual({});
  });

  it('claims a delivery once, binds it to its session in the same transaction, and refuses a second session', () => {
    const store = open();
    expect(store.claimDelivery('d1', 'issues')).toBe(true);
    expect(store.claimDelivery('d1', 'issues')).toBe(false);
    store.createSession(newSession('s1', { deliveryId: 'd1', deliveryKind: 'issues' }));
    const error = (() => {
      try {
        store.createSession(newSession('s2', { deliveryId: 'd1' }));
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(DuplicateDeliveryError);
    expect((error as DuplicateDeliveryError).sessionId).toBe('s1');
    // The refused session was rolled back with its delivery binding.
    expect(store.getSession('s2')).toBeUndefined();
    expect(store.listSessions().map((session) => session.id)).toEqual(['s1']);
  });

  it('a released claim (handling failed before a session) lets a redelivery through, once', () => {
    const store = open();
    expect(store.claimDelivery('d2', 'issue_comment')).toBe(true);
    store.releaseDelivery('d2');
    expect(store.claimDelivery('d2', 'issue_comment')).toBe(true);
    store.createSession(newSession('s3', { deliveryId: 'd2' }));
    // Releasing a delivery that has its session does nothing.
    store.releaseDelivery('d2');
    expect(store.claimDelivery('d2', 'issue_comment')).toBe(false);
  });

  it('upgrades a version 1 database in place, keeping its sessions', () => {
    mkdirSync(dirname(file), { recursive: true });
    const v1File = join(dirname(file), 'v1.db');
    const raw = oldDatabase(v1File, 1);
    expect(raw.pragma('user_version', { simple: true })).toBe(1);
    raw.close();
    const store = open(v1File);
    expect(store.getSession('old')!.options).toEqual({});
    expect(store.claimDelivery('d3', 'issues')).toBe(true);
  });
});
