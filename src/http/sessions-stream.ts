import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SessionService } from '../engine/session-service.js';
import type { EventBus } from '../events/event-bus.js';
import type { Logger } from '../logger.js';
import { sessionToJson } from './session-json.js';
import { openSseResponse } from './sse-response.js';

/** The newest sessions the first `snapshot` event carries. */
export const SNAPSHOT_LIMIT = 200;
/** At most one `session` event per session in this period: a running agent reports usage often. */
export const DEFAULT_COALESCE_MS = 250;

export interface SessionsStreamOptions {
  req: IncomingMessage;
  res: ServerResponse;
  service: Pick<SessionService, 'list' | 'get'>;
  bus: Pick<EventBus, 'subscribeAll'>;
  heartbeatMs?: number | undefined;
  maxPendingBytes?: number | undefined;
  coalesceMs?: number | undefined;
  logger?: Logger | undefined;
}

/**
 * `GET /api/sessions/stream`: a `snapshot` of the newest sessions, then a `session` event with a
 * session's full JSON whenever any of its events is published (created, status, usage, result…).
 *
 * Each session is throttled on its own: the first change is sent at once, changes within the next
 * `coalesceMs` are folded into one trailing send of the state as it then is. The engine updates
 * the store before it publishes, so reading the session when sending always sees the change.
 * Nothing is replayed on reconnect: the new snapshot is the whole state.
 */
export function streamSessions(options: SessionsStreamOptions): void {
  const { service } = options;
  const coalesceMs = options.coalesceMs ?? DEFAULT_COALESCE_MS;
  /** Sessions whose window is open; true when a change arrived during it. */
  const windows = new Map<string, { dirty: boolean; timer: NodeJS.Timeout }>();
  /**
   * A digest of the last JSON sent per session: a change that alters nothing visible is not sent
   * again. A digest, not the JSON, so a stream open for days holds little per session it saw.
   */
  const lastSent = new Map<string, string>();
  const digest = (json: string) => createHash('sha1').update(json).digest('base64');

  const sendSession = (id: string): void => {
    if (stream.closed) return;
    let json: string;
    try {
      json = JSON.stringify(sessionToJson(service.get(id)));
    } catch {
      return; // gone (or unreadable) since its event: the next snapshot says what exists
    }
    const sum = digest(json);
    if (lastSent.get(id) === sum) return;
    lastSent.set(id, sum);
    stream.write(`event: session\ndata: ${json}\n\n`);
  };

  const openWindow = (id: string): void => {
    const timer = setTimeout(() => {
      const window = windows.get(id);
      windows.delete(id);
      if (window?.dirty) {
        sendSession(id);
        openWindow(id);
      }
    }, coalesceMs);
    timer.unref();
    windows.set(id, { dirty: false, timer });
  };

  const onEvent = (sessionId: string): void => {
    if (stream.closed) return;
    const window = windows.get(sessionId);
    if (window) {
      window.dirty = true;
      return;
    }
    sendSession(sessionId);
    openWindow(sessionId);
  };

  // Subscribed before the snapshot is read: a change in between is sent after it, never lost.
  let snapshotSent = false;
  const early = new Set<string>();
  const unsubscribe = options.bus.subscribeAll((event) => {
    if (snapshotSent) onEvent(event.sessionId);
    else early.add(event.sessionId);
  });

  const stream = openSseResponse({
    req: options.req,
    res: options.res,
    heartbeatMs: options.heartbeatMs,
    maxPendingBytes: options.maxPendingBytes,
    logger: options.logger,
    logContext: { stream: 'sessions' },
    onClose: () => {
      unsubscribe();
      for (const window of windows.values()) clearTimeout(window.timer);
      windows.clear();
      lastSent.clear();
    },
  });

  const sessions = service.list({ limit: SNAPSHOT_LIMIT }).map(sessionToJson);
  for (const session of sessions) lastSent.set(session.id, digest(JSON.stringify(session)));
  stream.write(`event: snapshot\ndata: ${JSON.stringify({ sessions })}\n\n`);
  snapshotSent = true;
  for (const id of early) onEvent(id);
  stream.startHeartbeat();
}
