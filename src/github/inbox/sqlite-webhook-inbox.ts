import type Database from 'better-sqlite3';
import { openDatabase } from '../../store/sqlite/open-database.js';

/** A delivery as the inbox keeps it until it is handled. */
export interface InboxDelivery {
  /** X-GitHub-Delivery. */
  id: string;
  /** X-GitHub-Event, e.g. `issues`. */
  name: string;
  payload: unknown;
  installationId: number | undefined;
  /** `owner/name` of the repository the event is about, when it names one. */
  repository: string | undefined;
  /** Attempts already made (by this process or one before a restart). */
  attempts: number;
}

/** What the inbox processor needs from storage. */
export interface WebhookInbox {
  /** Stores a delivery; false when that delivery id is already stored (a redelivery). */
  add(delivery: Omit<InboxDelivery, 'attempts'>): boolean;
  /** Deliveries stored and not yet done, oldest first. */
  pending(): InboxDelivery[];
  recordAttempt(id: string): void;
  markDone(id: string): void;
  /** Forgets a delivery that failed for good, so that a redelivery from GitHub is handled afresh. */
  remove(id: string): void;
  /** Deletes deliveries done before `before`; returns how many. */
  prune(before: Date): number;
  close(): void;
}

interface InboxRow {
  id: string;
  event: string;
  payload: string;
  installation_id: number | null;
  repository: string | null;
  attempts: number;
}

/**
 * The inbox in the server's SQLite file (table `webhook_inbox`, migration 5), on a connection of
 * its own: the webhook answer waits only for this one insert, and WAL lets it run beside the
 * session store's writes.
 */
export class SqliteWebhookInbox implements WebhookInbox {
  readonly #db: Database.Database;
  readonly #insert;
  readonly #selectPending;
  readonly #attempt;
  readonly #done;
  readonly #delete;
  readonly #prune;

  static open(options: { file: string }): SqliteWebhookInbox {
    return new SqliteWebhookInbox(openDatabase(options.file));
  }

  private constructor(db: Database.Database) {
    this.#db = db;
    this.#insert = db.prepare<[string, string, string, number | null, string | null, string]>(
      `INSERT OR IGNORE INTO webhook_inbox (id, event, payload, installation_id, repository, received_at)
       VALUES (?, ?, ?, ?, ?, ?)`,
    );
    this.#selectPending = db.prepare<[], InboxRow>(
      'SELECT id, event, payload, installation_id, repository, attempts FROM webhook_inbox WHERE done_at IS NULL ORDER BY seq',
    );
    this.#attempt = db.prepare<[string]>('UPDATE webhook_inbox SET attempts = attempts + 1 WHERE id = ?');
    this.#done = db.prepare<[string, string]>('UPDATE webhook_inbox SET done_at = ? WHERE id = ?');
    this.#delete = db.prepare<[string]>('DELETE FROM webhook_inbox WHERE id = ?');
    this.#prune = db.prepare<[string]>('DELETE FROM webhook_inbox WHERE done_at IS NOT NULL AND done_at < ?');
  }

  add(delivery: Omit<InboxDelivery, 'attempts'>): boolean {
    const inserted = this.#insert.run(
      delivery.id,
      delivery.name,
      JSON.stringify(delivery.payload ?? null),
      delivery.installationId ?? null,
      delivery.repository ?? null,
      new Date().toISOString(),
    );
    return inserted.changes === 1;
  }

  pending(): InboxDelivery[] {
    return this.#selectPending.all().map((row) => ({
      id: row.id,
      name: row.event,
      payload: JSON.parse(row.payload) as unknown,
      installationId: row.installation_id ?? undefined,
      repository: row.repository ?? undefined,
      attempts: row.attempts,
    }));
  }

  recordAttempt(id: string): void {
    this.#attempt.run(id);
  }

  markDone(id: string): void {
    this.#done.run(new Date().toISOString(), id);
  }

  remove(id: string): void {
    this.#delete.run(id);
  }

  prune(before: Date): number {
    return this.#prune.run(before.toISOString()).changes;
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}
