import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { migrate, refuseFutureSchema } from './migrations.js';

/**
 * Opens TeleCoder's database file, migrated to the latest schema, with the settings every
 * connection to it uses (the session store's and the webhook inbox's).
 */
export function openDatabase(file: string): Database.Database {
  // Sessions hold prompts, code and PR links: keep the data directory private to its owner.
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const db = new Database(file);
  try {
    // busy_timeout first so that everything after it, including the migrations, waits for locks.
    db.pragma('busy_timeout = 5000');
    refuseFutureSchema(db);
    db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode: a committed write survives a crash of the process (not a power cut).
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    migrate(db);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}
