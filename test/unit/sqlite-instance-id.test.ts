import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LATEST_SCHEMA_VERSION } from '../../src/store/sqlite/migrations.js';
import { SqliteSessionStore } from '../../src/store/sqlite/sqlite-session-store.js';
import { oldDatabase } from '../helpers/old-database.js';

let dir: string;
const opened: SqliteSessionStore[] = [];

function open(file: string): SqliteSessionStore {
  const store = SqliteSessionStore.open({ file });
  opened.push(store);
  return store;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'telecoder-instance-'));
});

afterEach(() => {
  for (const store of opened.splice(0)) store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('SqliteSessionStore instance id (what Docker labels carry)', () => {
  it('is made once per database and kept across reopening; another database has another', () => {
    const first = open(join(dir, 'a', 'telecoder.db'));
    const id = first.instanceId();
    expect(id).toMatch(/^[0-9a-f]{12}$/);
    first.close();
    expect(open(join(dir, 'a', 'telecoder.db')).instanceId()).toBe(id);
    // Same file name, another directory: what two deployments that both use /data look like to
    // Docker, where a label made from the path could not tell them apart.
    expect(open(join(dir, 'b', 'telecoder.db')).instanceId()).not.toBe(id);
  });

  it('is given to a version 2 database on upgrade, which keeps its sessions', () => {
    mkdirSync(join(dir, 'old'));
    const file = join(dir, 'old', 'telecoder.db');
    const raw = oldDatabase(file, 2);
    raw.close();

    const store = open(file);
    expect(store.getSession('old')!.status).toBe('complete');
    expect(store.instanceId()).toMatch(/^[0-9a-f]{12}$/);
    store.close();
    const check = new Database(file, { readonly: true });
    expect(check.pragma('user_version', { simple: true })).toBe(LATEST_SCHEMA_VERSION);
    expect(check.prepare("SELECT value FROM meta WHERE key = 'instance_id'").get()).toEqual({ value: expect.stringMatching(/^[0-9a-f]{12}$/) });
    check.close();
  });
});
