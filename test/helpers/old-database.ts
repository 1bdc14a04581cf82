import Database from 'better-sqlite3';
import { MIGRATIONS, migrate } from '../../src/store/sqlite/migrations.js';

/**
 * A database at `file` made by an older TeleCoder: migrated up to schema `version` only, holding
 * one complete task session, `old`. Returned open; the caller closes it before the upgrade.
 */
export function oldDatabase(file: string, version: number): Database.Database {
  const raw = new Database(file);
  migrate(raw, MIGRATIONS.slice(0, version));
  raw
    .prepare(
      `INSERT INTO sessions (id, repo, prompt, mode, status, branch, agent, model, origin, usage, created_at, updated_at)
       VALUES ('old', 'a/b', 'p', 'task', 'complete', 'telecoder/old', 'builtin', NULL, '{"kind":"api"}', '{"inputTokens":0,"outputTokens":0,"turns":0}', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')`,
    )
    .run();
  return raw;
}
