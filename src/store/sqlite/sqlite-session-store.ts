import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { ConflictError, DuplicateDeliveryError, NotFoundError } from '../../errors.js';
import type {
  Message,
  MessageRole,
  Session,
  SessionEvent,
  SessionEventType,
  SessionMode,
  SessionResult,
  SessionStatus,
  TaskOptions,
  TaskOrigin,
  TokenUsage,
} from '../../model/session.js';
import type { ListSessionsOptions, NewSession, SessionPatch, SessionStore } from '../session-store.js';
import { openDatabase } from './open-database.js';

interface SessionRow {
  id: string;
  repo: string;
  prompt: string;
  mode: string;
  status: string;
  branch: string;
  agent: string;
  model: string | null;
  pr_url: string | null;
  pr_number: number | null;
  result: string | null;
  error: string | null;
  origin: string;
  options: string;
  usage: string;
  created_at: string;
  updated_at: string;
}

interface MessageRow {
  id: number;
  session_id: string;
  role: string;
  content: string;
  created_at: string;
}

interface EventRow {
  id: number;
  session_id: string;
  type: string;
  data: string;
  created_at: string;
}

/** Parameters of the single UPDATE statement: a `set_*` flag per column says whether to touch it. */
interface UpdateParams {
  id: string;
  updated_at: string;
  set_status: number;
  status: string | null;
  set_pr_url: number;
  pr_url: string | null;
  set_pr_number: number;
  pr_number: number | null;
  set_result: number;
  result: string | null;
  set_error: number;
  error: string | null;
  set_model: number;
  model: string | null;
  set_usage: number;
  usage: string | null;
  set_origin: number;
  origin: string | null;
}

const EMPTY_USAGE: TokenUsage = { inputTokens: 0, outputTokens: 0, turns: 0 };

function now(): string {
  return new Date().toISOString();
}

function toSession(row: SessionRow): Session {
  return {
    id: row.id,
    repo: row.repo,
    prompt: row.prompt,
    mode: row.mode as SessionMode,
    status: row.status as SessionStatus,
    branch: row.branch,
    agent: row.agent,
    model: row.model,
    prUrl: row.pr_url,
    prNumber: row.pr_number,
    result: row.result === null ? null : (JSON.parse(row.result) as SessionResult),
    error: row.error,
    origin: JSON.parse(row.origin) as TaskOrigin,
    options: JSON.parse(row.options) as TaskOptions,
    usage: JSON.parse(row.usage) as TokenUsage,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toMessage(row: MessageRow): Message {
  return {
    id: row.id,
    sessionId: row.session_id,
    role: row.role as MessageRole,
    content: row.content,
    createdAt: row.created_at,
  };
}

function toEvent(row: EventRow): SessionEvent {
  return {
    id: row.id,
    sessionId: row.session_id,
    type: row.type as SessionEventType,
    data: JSON.parse(row.data) as unknown,
    createdAt: row.created_at,
  };
}

function sqliteCode(error: unknown): string | undefined {
  return error instanceof Database.SqliteError ? error.code : undefined;
}

function flag(present: boolean): number {
  return present ? 1 : 0;
}

/**
 * The deployment's id, made the first time any process opens the file. INSERT OR IGNORE is
 * atomic, so processes opening a new file at once all read back the one id that won.
 */
function ensureInstanceId(db: Database.Database): string {
  db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('instance_id', ?)").run(randomBytes(6).toString('hex'));
  const row = db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'instance_id'").get();
  if (!row) throw new Error(`The database ${db.name} has no instance id after storing one; check that the file is writable.`);
  return row.value;
}

/**
 * The session store over one SQLite file. WAL lets the HTTP API read while the engine writes,
 * and busy_timeout makes concurrent writers (another process on the same file) wait for the lock
 * instead of failing with SQLITE_BUSY.
 */
export class SqliteSessionStore implements SessionStore {
  readonly #db: Database.Database;
  readonly #insertSession;
  readonly #selectSession;
  readonly #selectAllSessions;
  readonly #selectSessionsByStatus;
  readonly #updateSession;
  readonly #insertEvent;
  readonly #selectEvents;
  readonly #insertMessage;
  readonly #selectMessages;
  readonly #claimDelivery;
  readonly #bindDelivery;
  readonly #selectDelivery;
  readonly #releaseDelivery;
  readonly #saveDiff;
  readonly #selectDiff;
  readonly #bindConversation;
  readonly #selectConversation;
  readonly #instanceId: string;

  static open(options: { file: string }): SqliteSessionStore {
    return new SqliteSessionStore(openDatabase(options.file));
  }

  private constructor(db: Database.Database) {
    this.#db = db;
    this.#insertSession = db.prepare<unknown[], SessionRow>(
      `INSERT INTO sessions (id, repo, prompt, mode, status, branch, agent, model, pr_url, pr_number,
                             result, error, origin, options, usage, created_at, updated_at)
       VALUES (@id, @repo, @prompt, @mode, 'pending', @branch, @agent, @model, NULL, NULL,
               NULL, NULL, @origin, @options, @usage, @created_at, @created_at)
       RETURNING *`,
    );
    this.#selectSession = db.prepare<[string], SessionRow>('SELECT * FROM sessions WHERE id = ?');
    // rowid breaks ties between sessions created in the same millisecond: later insert first.
    this.#selectAllSessions = db.prepare<[number], SessionRow>(
      'SELECT * FROM sessions ORDER BY created_at DESC, rowid DESC LIMIT ?',
    );
    // One statement for any set of statuses: they arrive as a JSON array.
    this.#selectSessionsByStatus = db.prepare<[string, number], SessionRow>(
      `SELECT * FROM sessions WHERE status IN (SELECT value FROM json_each(?))
       ORDER BY created_at DESC, rowid DESC LIMIT ?`,
    );
    this.#updateSession = db.prepare<[UpdateParams], SessionRow>(
      `UPDATE sessions SET
         status     = CASE WHEN @set_status    THEN @status    ELSE status    END,
         pr_url     = CASE WHEN @set_pr_url    THEN @pr_url    ELSE pr_url    END,
         pr_number  = CASE WHEN @set_pr_number THEN @pr_number ELSE pr_number END,
         result     = CASE WHEN @set_result    THEN @result    ELSE result    END,
         error      = CASE WHEN @set_error     THEN @error     ELSE error     END,
         model      = CASE WHEN @set_model     THEN @model     ELSE model     END,
         usage      = CASE WHEN @set_usage     THEN @usage     ELSE usage     END,
         origin     = CASE WHEN @set_origin    THEN @origin    ELSE origin    END,
         updated_at = @updated_at
       WHERE id = @id
       RETURNING *`,
    );
    this.#insertEvent = db.prepare<[string, string, string, string], EventRow>(
      'INSERT INTO events (session_id, type, data, created_at) VALUES (?, ?, ?, ?) RETURNING *',
    );
    this.#selectEvents = db.prepare<[string, number], EventRow>(
      'SELECT * FROM events WHERE session_id = ? AND id > ? ORDER BY id',
    );
    this.#insertMessage = db.prepare<[string, string, string, string], MessageRow>(
      'INSERT INTO messages (session_id, role, content, created_at) VALUES (?, ?, ?, ?) RETURNING *',
    );
    this.#selectMessages = db.prepare<[string], MessageRow>(
      'SELECT * FROM messages WHERE session_id = ? ORDER BY id',
    );
    this.#saveDiff = db.prepare<[string, string, string]>(
      `INSERT INTO session_diffs (session_id, diff, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (session_id) DO UPDATE SET diff = excluded.diff, updated_at = excluded.updated_at`,
    );
    this.#selectDiff = db.prepare<[string], { diff: string }>('SELECT diff FROM session_diffs WHERE session_id = ?');
    this.#bindConversation = db.prepare<[string, string, string]>(
      `INSERT INTO conversations (key, session_id, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET session_id = excluded.session_id, updated_at = excluded.updated_at`,
    );
    this.#selectConversation = db.prepare<[string], { session_id: string }>('SELECT session_id FROM conversations WHERE key = ?');
    this.#claimDelivery = db.prepare<[string, string, string]>(
      'INSERT OR IGNORE INTO deliveries (id, kind, session_id, created_at) VALUES (?, ?, NULL, ?)',
    );
    // Binds a claimed (or unclaimed) delivery to its session; changes nothing if another won.
    this.#bindDelivery = db.prepare<[string, string, string, string]>(
      `INSERT INTO deliveries (id, kind, session_id, created_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET session_id = excluded.session_id WHERE deliveries.session_id IS NULL`,
    );
    this.#selectDelivery = db.prepare<[string], { session_id: string | null }>(
      'SELECT session_id FROM deliveries WHERE id = ?',
    );
    this.#releaseDelivery = db.prepare<[string]>('DELETE FROM deliveries WHERE id = ? AND session_id IS NULL');
    this.#instanceId = ensureInstanceId(db);
    this.#createSessionTx = db.transaction((input: NewSession) => {
      const row = this.#insertSession.get({
        id: input.id,
        repo: input.repo,
        prompt: input.prompt,
        mode: input.mode,
        branch: input.branch,
        agent: input.agent,
        model: input.model,
        origin: JSON.stringify(input.origin),
        options: JSON.stringify(input.options ?? {}),
        usage: JSON.stringify(EMPTY_USAGE),
        created_at: now(),
      });
      if (!row) throw new Error(`Inserting session ${input.id} returned no row.`);
      if (input.deliveryId !== undefined) {
        const bound = this.#bindDelivery.run(input.deliveryId, input.deliveryKind ?? 'request', input.id, row.created_at);
        if (bound.changes !== 1) {
          // Throwing rolls the session back: the delivery keeps the session it already had.
          throw new DuplicateDeliveryError(input.deliveryId, this.#selectDelivery.get(input.deliveryId)?.session_id ?? null);
        }
      }
      return row;
    });
  }

  readonly #createSessionTx: (input: NewSession) => SessionRow;

  instanceId(): string {
    return this.#instanceId;
  }

  claimDelivery(deliveryId: string, kind: string): boolean {
    return this.#claimDelivery.run(deliveryId, kind, now()).changes === 1;
  }

  releaseDelivery(deliveryId: string): void {
    this.#releaseDelivery.run(deliveryId);
  }

  saveDiff(sessionId: string, diff: string): void {
    this.#saveDiff.run(sessionId, diff, now());
  }

  getDiff(sessionId: string): string | undefined {
    return this.#selectDiff.get(sessionId)?.diff;
  }

  bindConversation(key: string, sessionId: string): void {
    this.#bindConversation.run(key, sessionId, now());
  }

  conversationSession(key: string): string | undefined {
    return this.#selectConversation.get(key)?.session_id;
  }

  createSession(input: NewSession): Session {
    try {
      return toSession(this.#createSessionTx(input));
    } catch (error) {
      if (sqliteCode(error) === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
        throw new ConflictError(`A session with id ${input.id} already exists: choose another id.`);
      }
      throw error;
    }
  }

  getSession(id: string): Session | undefined {
    const row = this.#selectSession.get(id);
    return row ? toSession(row) : undefined;
  }

  listSessions(options: ListSessionsOptions = {}): Session[] {
    const limit = options.limit ?? -1; // SQLite: a negative LIMIT means no limit.
    if (options.limit !== undefined && (!Number.isInteger(limit) || limit < 0)) {
      throw new RangeError(`listSessions limit must be a non-negative integer, got ${options.limit}.`);
    }
    const rows =
      options.status === undefined
        ? this.#selectAllSessions.all(limit)
        : this.#selectSessionsByStatus.all(
            JSON.stringify(Array.isArray(options.status) ? options.status : [options.status]),
            limit,
          );
    return rows.map(toSession);
  }

  updateSession(id: string, patch: SessionPatch): Session {
    const row = this.#updateSession.get({
      id,
      updated_at: now(),
      set_status: flag(patch.status !== undefined),
      status: patch.status ?? null,
      set_pr_url: flag(patch.prUrl !== undefined),
      pr_url: patch.prUrl ?? null,
      set_pr_number: flag(patch.prNumber !== undefined),
      pr_number: patch.prNumber ?? null,
      set_result: flag(patch.result !== undefined),
      result: patch.result == null ? null : JSON.stringify(patch.result),
      set_error: flag(patch.error !== undefined),
      error: patch.error ?? null,
      set_model: flag(patch.model !== undefined),
      model: patch.model ?? null,
      set_usage: flag(patch.usage !== undefined),
      usage: patch.usage === undefined ? null : JSON.stringify(patch.usage),
      set_origin: flag(patch.origin !== undefined),
      origin: patch.origin === undefined ? null : JSON.stringify(patch.origin),
    });
    if (!row) {
      throw new NotFoundError(`Cannot update session ${id}: no such session. Check the session id.`);
    }
    return toSession(row);
  }

  appendEvent(sessionId: string, type: SessionEventType, data: unknown): SessionEvent {
    // `undefined` has no JSON form; store it as null so reading it back never fails.
    const json = JSON.stringify(data ?? null);
    const row = this.#withSession(sessionId, 'append an event to', () =>
      this.#insertEvent.get(sessionId, type, json, now()),
    );
    return toEvent(row);
  }

  listEvents(sessionId: string, afterId = 0): SessionEvent[] {
    return this.#selectEvents.all(sessionId, afterId).map(toEvent);
  }

  addMessage(sessionId: string, role: MessageRole, content: string, delivery?: { id: string; kind: string }): Message {
    const row = this.#withSession(sessionId, 'add a message to', () =>
      this.#db.transaction(() => {
        const inserted = this.#insertMessage.get(sessionId, role, content, now());
        if (delivery && this.#bindDelivery.run(delivery.id, delivery.kind, sessionId, now()).changes !== 1) {
          // Throwing rolls the message back: the delivery was handled already.
          throw new DuplicateDeliveryError(delivery.id, this.#selectDelivery.get(delivery.id)?.session_id ?? null);
        }
        return inserted;
      })(),
    );
    return toMessage(row);
  }

  listMessages(sessionId: string): Message[] {
    return this.#selectMessages.all(sessionId).map(toMessage);
  }

  /** Runs PRAGMA integrity_check; returns 'ok' when the file is sound, otherwise the problems found. */
  integrityCheck(): string {
    const rows = this.#db.pragma('integrity_check', { simple: false }) as { integrity_check: string }[];
    return rows.map((row) => row.integrity_check).join('\n');
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }

  /** Turns the foreign-key failure of an insert for an unknown session into a readable error. */
  #withSession<T>(sessionId: string, action: string, insert: () => T | undefined): T {
    let row: T | undefined;
    try {
      row = insert();
    } catch (error) {
      if (sqliteCode(error) === 'SQLITE_CONSTRAINT_FOREIGNKEY') {
        throw new NotFoundError(`Cannot ${action} session ${sessionId}: no such session. Create the session first.`);
      }
      throw error;
    }
    if (row === undefined) throw new Error(`Inserting into session ${sessionId} returned no row.`);
    return row;
  }
}
