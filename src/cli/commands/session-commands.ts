import { UsageError } from '../cli-io.js';
import { followEvents } from '../follow-events.js';
import { formatEvent } from '../format-event.js';
import { formatSessionDetails, formatSessionTable } from '../format-session-table.js';
import type { CommandContext } from './command-context.js';

/** `telecoder list`: newest first. */
export async function listCommand(context: CommandContext, options: { json?: boolean; limit?: string }): Promise<number> {
  let limit: number | undefined;
  if (options.limit !== undefined) {
    limit = Number(options.limit);
    if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit must be a whole number ≥ 1 (got "${options.limit}")`);
  }
  const sessions = await context.client.listSessions(limit);
  if (options.json) context.out(JSON.stringify(sessions, null, 2));
  else if (sessions.length === 0) context.out('No sessions yet: start one with `telecoder run "<task>" --repo owner/name`');
  else context.out(formatSessionTable(sessions));
  return 0;
}

/** `telecoder status <id>`. */
export async function statusCommand(context: CommandContext, id: string, options: { json?: boolean }): Promise<number> {
  const session = await context.client.getSession(id);
  context.out(options.json ? JSON.stringify(session, null, 2) : formatSessionDetails(session));
  return 0;
}

/**
 * `telecoder logs <id>`: the stored events, read from the same SSE endpoint up to the server's
 * end-of-replay marker (or `done`); with --follow, live events too until `done`.
 * --json prints one event per line (NDJSON).
 */
export async function logsCommand(context: CommandContext, id: string, options: { follow?: boolean; json?: boolean }): Promise<number> {
  await followEvents({
    client: context.client,
    sessionId: id,
    untilReplayed: !options.follow,
    onEvent(event) {
      if (options.json) {
        context.out(JSON.stringify(event));
        return;
      }
      const line = formatEvent(event);
      if (line !== undefined) context.out(line);
    },
  });
  return 0;
}

/** `telecoder stop <id>`. */
/** `telecoder diff <id>`: the session's change, as the server keeps it (or a live chat's so far). */
export async function diffCommand(context: CommandContext, id: string): Promise<number> {
  const diff = await context.client.getDiff(id);
  context.io.stdout.write(diff);
  return 0;
}

export async function stopCommand(context: CommandContext, id: string, options: { json?: boolean }): Promise<number> {
  const session = await context.client.stopSession(id);
  context.out(options.json ? JSON.stringify(session, null, 2) : `Session ${session.id} is ${session.status}`);
  return 0;
}
