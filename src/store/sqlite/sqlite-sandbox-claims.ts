import type Database from 'better-sqlite3';
import type { SandboxClaims } from '../../sandbox/sandbox-claims.js';
import { openDatabase } from './open-database.js';

/**
 * Sandbox claims in the server's SQLite file (table `sandbox_claims`, migration 6), on a
 * connection of their own. A claim is one insert: the primary key refuses a second claimant, so a
 * sandbox is never handed to two sessions, and the owner of a pool sandbox is known after a crash.
 */
export class SqliteSandboxClaims implements SandboxClaims {
  readonly #db: Database.Database;
  readonly #insert;
  readonly #select;
  readonly #delete;
  readonly #all;

  /** Opens the store's database file; the store has brought its schema up to date. */
  static open(options: { file: string }): SqliteSandboxClaims {
    return new SqliteSandboxClaims(openDatabase(options.file));
  }

  private constructor(db: Database.Database) {
    this.#db = db;
    this.#insert = db.prepare<[string, string, string]>(
      'INSERT OR IGNORE INTO sandbox_claims (sandbox_id, session_id, claimed_at) VALUES (?, ?, ?)',
    );
    this.#select = db.prepare<[string], { session_id: string }>('SELECT session_id FROM sandbox_claims WHERE sandbox_id = ?');
    this.#delete = db.prepare<[string]>('DELETE FROM sandbox_claims WHERE sandbox_id = ?');
    this.#all = db.prepare<[], { sandbox_id: string }>('SELECT sandbox_id FROM sandbox_claims');
  }

  // After close (the server stopping), a sandbox that ends late has nothing to record: the next
  // start-up's sweep forgets what is left.
  claim(sandboxId: string, sessionId: string): boolean {
    if (!this.#db.open) return false;
    return this.#insert.run(sandboxId, sessionId, new Date().toISOString()).changes === 1;
  }

  claimant(sandboxId: string): string | undefined {
    if (!this.#db.open) return undefined;
    return this.#select.get(sandboxId)?.session_id;
  }

  release(sandboxId: string): void {
    if (!this.#db.open) return;
    this.#delete.run(sandboxId);
  }

  retainOnly(sandboxIds: ReadonlySet<string>): void {
    if (!this.#db.open) return;
    const gone = this.#all.all().filter((row) => !sandboxIds.has(row.sandbox_id));
    this.#db.transaction(() => {
      for (const row of gone) this.#delete.run(row.sandbox_id);
    })();
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}
