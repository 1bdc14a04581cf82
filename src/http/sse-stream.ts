import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SessionService } from '../engine/session-service.js';
import type { Logger } from '../logger.js';
import { isFinal, type SessionEvent } from '../model/session.js';
import { eventToJson } from './session-json.js';

export const DEFAULT_HEARTBEAT_MS = 15_000;
export const DEFAULT_MAX_PENDING_BYTES = 1024 * 1024;
/**
 * Sent once the stored history has been replayed (and the live events that arrived meanwhile):
 * a comment, so EventSource clients ignore it, while `telecoder logs` uses it to stop reading.
 */
export const REPLAY_COMPLETE_COMMENT = 'replay-complete';

export interface SseStreamOptions {
  req: IncomingMessage;
  res: ServerResponse;
  service: SessionService;
  sessionId: string;
  /** Replay stored events with an id greater than this (Last-Event-ID). */
  afterId?: number | undefined;
  heartbeatMs?: number;
  /** A client this far behind is cut off; it reconnects with Last-Event-ID and replays. */
  maxPendingBytes?: number;
  logger?: Logger | undefined;
}

export function formatSseEvent(event: SessionEvent): string {
  return `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(eventToJson(event))}\n\n`;
}

/**
 * Streams a session's events: stored ones after `afterId`, then live ones, each exactly once and
 * in id order, until the `done` event. The caller has checked that the session exists.
 *
 * Live events are subscribed to before the store is read, and held until the replay is written,
 * so an event appended between the read and the subscription can be neither lost nor doubled.
 * The stream never waits for a slow client: once more than `maxPendingBytes` are queued the
 * stream is ended, and the client resumes from the store with Last-Event-ID.
 */
export function streamSessionEvents(options: SseStreamOptions): void {
  const { req, res, service, sessionId } = options;
  const heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  const maxPendingBytes = options.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES;

  let lastId = options.afterId ?? 0;
  let replaying = true;
  let closed = false;
  let sawDone = false;
  const held: SessionEvent[] = [];
  let heartbeat: NodeJS.Timeout | undefined;
  let forceClose: NodeJS.Timeout | undefined;
  let unsubscribe: (() => void) | undefined;

  const stopListening = () => {
    unsubscribe?.();
    unsubscribe = undefined;
    if (heartbeat) clearInterval(heartbeat);
    heartbeat = undefined;
    held.length = 0;
  };

  const finish = (reason: 'done' | 'behind' | 'already-done') => {
    if (closed) return;
    closed = true;
    stopListening();
    res.end();
    if (reason === 'behind') {
      options.logger?.debug({ session: sessionId, pending: res.writableLength }, 'SSE client too slow; ending its stream');
      // A client that reads nothing would hold the queued bytes forever: give it one heartbeat
      // period to take them, then drop the connection.
      forceClose = setTimeout(() => res.destroy(), Math.max(heartbeatMs, 1000));
      forceClose.unref();
    }
  };

  const write = (chunk: string): void => {
    if (closed) return;
    const flushed = res.write(chunk);
    if (!flushed && res.writableLength > maxPendingBytes) finish('behind');
  };

  const send = (event: SessionEvent): void => {
    if (closed || event.id <= lastId) return;
    lastId = event.id;
    write(formatSseEvent(event));
    if (event.type === 'done') {
      sawDone = true;
      finish('done');
    }
  };

  res.on('close', () => {
    closed = true;
    stopListening();
    if (forceClose) clearTimeout(forceClose);
  });

  unsubscribe = service.subscribe(sessionId, (event) => {
    if (closed) return;
    if (replaying) held.push(event);
    else send(event);
  });

  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache, no-transform',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  res.flushHeaders();
  req.socket.setNoDelay(true);

  for (const event of service.events(sessionId, options.afterId)) send(event);
  held.sort((a, b) => a.id - b.id);
  for (const event of held.splice(0)) send(event);
  replaying = false;
  if (closed) return;

  // Resuming after the end: the stored `done` was at or before Last-Event-ID.
  if (!sawDone && isFinal(service.get(sessionId).status) && service.events(sessionId).some((e) => e.type === 'done')) {
    finish('already-done');
    return;
  }
  write(`: ${REPLAY_COMPLETE_COMMENT}\n\n`);
  heartbeat = setInterval(() => write(': ping\n\n'), heartbeatMs);
  heartbeat.unref();
}
