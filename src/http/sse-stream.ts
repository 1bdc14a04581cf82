import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SessionService } from '../engine/session-service.js';
import type { Logger } from '../logger.js';
import { isFinal, type SessionEvent } from '../model/session.js';
import { eventToJson } from './session-json.js';
import { openSseResponse, type SseResponse } from './sse-response.js';

export { DEFAULT_HEARTBEAT_MS, DEFAULT_MAX_PENDING_BYTES } from './sse-response.js';
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
 * The bus hands the same event object to every subscriber, so the bytes are made once per event
 * and the same Buffer is written to every stream: a thousand subscribers cost one JSON.stringify
 * and one UTF-8 encoding, and the copies queued for slow clients share one allocation. Weak: the
 * bytes are dropped with the event object (a replay's events from the store are its own).
 */
const serialized = new WeakMap<SessionEvent, Buffer>();

export function serializedSseEvent(event: SessionEvent): Buffer {
  let bytes = serialized.get(event);
  if (!bytes) {
    bytes = Buffer.from(formatSseEvent(event));
    serialized.set(event, bytes);
  }
  return bytes;
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

  let lastId = options.afterId ?? 0;
  let replaying = true;
  let sawDone = false;
  const held: SessionEvent[] = [];
  let unsubscribe: (() => void) | undefined;
  let stream: SseResponse | undefined;

  const send = (event: SessionEvent): void => {
    if (!stream || stream.closed || event.id <= lastId) return;
    lastId = event.id;
    stream.write(serializedSseEvent(event));
    if (event.type === 'done') {
      sawDone = true;
      stream.finish('done');
    }
  };

  unsubscribe = service.subscribe(sessionId, (event) => {
    if (stream?.closed) return;
    if (replaying) held.push(event);
    else send(event);
  });

  stream = openSseResponse({
    req,
    res,
    heartbeatMs: options.heartbeatMs,
    maxPendingBytes: options.maxPendingBytes,
    logger: options.logger,
    logContext: { session: sessionId },
    onClose: () => {
      unsubscribe?.();
      unsubscribe = undefined;
      held.length = 0;
    },
  });

  for (const event of service.events(sessionId, options.afterId)) send(event);
  held.sort((a, b) => a.id - b.id);
  for (const event of held.splice(0)) send(event);
  replaying = false;
  if (stream.closed) return;

  // Resuming after the end: the stored `done` was at or before Last-Event-ID.
  if (!sawDone && isFinal(service.get(sessionId).status) && service.events(sessionId).some((e) => e.type === 'done')) {
    stream.finish('done');
    return;
  }
  stream.write(`: ${REPLAY_COMPLETE_COMMENT}\n\n`);
  stream.startHeartbeat();
}
