import type Database from 'better-sqlite3';

/**
 * One schema step. `up` runs inside a transaction together with the `user_version` bump, so a
 * crash mid-migration leaves the database at the previous version, never half-migrated.
 * Never edit a released migration: add the next version instead.
 */
export interface Migration {
  version: number;
  description: string;
  up(db: Database.Database): void;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'sessions, messages and events',
    up(db) {
      db.exec(`
        CREATE TABLE sessions (
          id         TEXT PRIMARY KEY,
          repo       TEXT NOT NULL,
          prompt     TEXT NOT NULL,
          mode       TEXT NOT NULL,
          status     TEXT NOT NULL,
          branch     TEXT NOT NULL,
          agent      TEXT NOT NULL,
          model      TEXT,
          pr_url     TEXT,
          pr_number  INTEGER,
          result     TEXT,
          error      TEXT,
          origin     TEXT NOT NULL,
          usage      TEXT NOT NULL,
          created_at TEXT NOT NULL,
          updated_at TEXT NOT NULL
        );
        CREATE INDEX sessions_status ON sessions (status);
        CREATE INDEX sessions_created_at ON sessions (created_at);

        CREATE TABLE messages (
          id         INTEGER PRIMARY KEY AUTOINCREMENT,
          session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
          role       TEXT NOT NULL,
          content    TEXT NOT NULL,
          created_at TEXT NOT NULL
        );
        CREATE INDEX messages_session_id ON messages (session_id);

        CREATE TABLE events (
          id         INTEGER PRIMARY KEY AUTOINCREMENT,
          session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
          type       TEXT NOT NULL,
          data       TEXT NOT NULL,
          created_at TEXT NOT NULL
        );
        CREATE INDEX events_session_id_id ON events (session_id, id);
      `);
    },
  },
  {
    version: 2,
    description: 'task options on sessions; processed deliveries',
    up(db) {
      db.exec(`
        ALTER TABLE sessions ADD COLUMN options TEXT NOT NULL DEFAULT '{}';

        -- A delivery (a webhook's X-GitHub-Delivery) is claimed before it is handled and bound to
        -- the session it created in the same transaction that stores the session.
        CREATE TABLE deliveries (
          id         TEXT PRIMARY KEY,
          kind       TEXT NOT NULL,
          session_id TEXT REFERENCES sessions (id) ON DELETE SET NULL,
          created_at TEXT NOT NULL
        );
      `);
    },
  },
  {
    version: 3,
    description: 'facts about the deployment itself (its instance id)',
    up(db) {
      // Rows are filled in by the store when it opens (see SqliteSessionStore.instanceId), so a
      // database upgraded from version 2 gets its values the same way as a new one.
      db.exec(`
        CREATE TABLE meta (
          key   TEXT PRIMARY KEY,
          value TEXT NOT NULL
        );
      `);
    },
  },
  {
    version: 4,
    description: 'chat conversations (a Slack thread, a Telegram chat) and their current session; delivered diffs',
    up(db) {
      db.exec(`
        -- What a session delivered, as the readable diff people look at (/diff, the dashboard).
        CREATE TABLE session_diffs (
          session_id TEXT PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
          diff       TEXT NOT NULL,
          updated_at TEXT NOT NULL
        );

        CREATE TABLE conversations (
          key        TEXT PRIMARY KEY,
          session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
          updated_at TEXT NOT NULL
        );
        CREATE INDEX conversations_session_id ON conversations (session_id);
      `);
    },
  },
  {
    version: 5,
    description: 'the webhook inbox: deliveries acknowledged but not yet handled',
    up(db) {
      db.exec(`
        -- A GitHub delivery is stored here before it is acknowledged and handled afterwards, so a
        -- crash or a failing GitHub read after the answer loses nothing. seq keeps arrival order.
        CREATE TABLE webhook_inbox (
          seq             INTEGER PRIMARY KEY AUTOINCREMENT,
          id              TEXT NOT NULL UNIQUE,
          event           TEXT NOT NULL,
          payload         TEXT NOT NULL,
          installation_id INTEGER,
          repository      TEXT,
          received_at     TEXT NOT NULL,
          attempts        INTEGER NOT NULL DEFAULT 0,
          done_at         TEXT
        );
        CREATE INDEX webhook_inbox_done_at ON webhook_inbox (done_at);
      `);
    },
  },
  {
    version: 6,
    description: 'which session claimed which sandbox (the warm pool)',
    up(db) {
      db.exec(`
        -- A warm-pool sandbox is made before its session exists, and Docker fixes a container's
        -- labels at creation: its owner is recorded here when a session claims it. The primary
        -- key is what makes a sandbox claimable once.
        CREATE TABLE sandbox_claims (
          sandbox_id TEXT PRIMARY KEY,
          session_id TEXT NOT NULL,
          claimed_at TEXT NOT NULL
        );
      `);
    },
  },
];

/** Migrations are numbered 1..n without gaps (checked in `migrate`), so the count is the latest version. */
export const LATEST_SCHEMA_VERSION = MIGRATIONS.length;

function userVersion(db: Database.Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

function assertWellFormed(migrations: readonly Migration[]): void {
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) {
      throw new Error(
        `Migration at position ${index} has version ${migration.version}, expected ${index + 1}: ` +
          'migrations must be numbered 1, 2, 3… in order with no gaps.',
      );
    }
  });
}

/**
 * Throws when the file was written by a newer TeleCoder. `open` calls this before changing any
 * setting of the file, so an old binary pointed at new data leaves it exactly as it was.
 */
export function refuseFutureSchema(db: Database.Database, latest = LATEST_SCHEMA_VERSION): void {
  const version = userVersion(db);
  if (version > latest) {
    throw new Error(
      `The database ${db.name} has schema version ${version}, but this TeleCoder only knows ` +
        `versions up to ${latest}: it was written by a newer TeleCoder. Upgrade TeleCoder to open it.`,
    );
  }
}

/**
 * Brings the database up to the latest schema version. Safe to call from several processes
 * opening the same file at once: each step takes the write lock first (BEGIN IMMEDIATE) and
 * re-reads the version under it, so only one process applies a given migration.
 */
export function migrate(db: Database.Database, migrations: readonly Migration[] = MIGRATIONS): void {
  assertWellFormed(migrations);
  const latest = migrations.length;
  refuseFutureSchema(db, latest);

  for (const migration of migrations) {
    if (userVersion(db) >= migration.version) continue;
    const apply = db.transaction(() => {
      // Another process may have migrated between our check and taking the lock.
      refuseFutureSchema(db, latest);
      if (userVersion(db) >= migration.version) return;
      migration.up(db);
      // PRAGMA does not accept bound parameters; the version is an integer we control.
      db.pragma(`user_version = ${migration.version}`);
    });
    apply.immediate();
  }
}
