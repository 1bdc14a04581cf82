import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../logger.js';

export const DEFAULT_HEARTBEAT_MS = 15_000;
export const DEFAULT_MAX_PENDING_BYTES = 1024 * 1024;

export interface SseResponseOptions {
  req: IncomingMessage;
  res: ServerResponse;
  heartbeatMs?: number | undefined;
  /** A client this far behind is cut off; it reconnects and reads what it missed again. */
  maxPendingBytes?: number | undefined;
  logger?: Logger | undefined;
  /** What the stream is, for the log line of a cut-off client. */
  logContext?: Record<string, unknown>;
  /** Called once when the stream ends, whoever ended it: release subscriptions here. */
  onClose: () => void;
}

export interface SseResponse {
  /** Writes a chunk unless the stream is closed; cuts a client off once it is too far behind. */
  write(chunk: string | Buffer): void;
  /** Ends the stream; `behind` also drops a client that does not read what was queued. */
  finish(reason: 'done' | 'behind'): void;
  /** Starts the `: ping` comment that keeps proxies from closing an idle stream. */
  startHeartbeat(): void;
  readonly closed: boolean;
}

/**
 * The parts every event stream shares: the headers, the heartbeat, and the slow-client cut-off.
 * A stream never waits for its client: once more than `maxPendingBytes` are queued it is ended,
 * so one stuck browser tab cannot make the server hold an ever-growing buffer.
 */
export function openSseResponse(options: SseResponseOptions): SseResponse {
  const { req, res } = options;
  const heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  const maxPendingBytes = options.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES;
  let closed = false;
  let released = false;
  let heartbeat: NodeJS.Timeout | undefined;
  let forceClose: NodeJS.Timeout | undefined;

  const release = () => {
    if (heartbeat) clearInterval(heartbeat);
    heartbeat = undefined;
    if (released) return;
    released = true;
    options.onClose();
  };

  const finish = (reason: 'done' | 'behind') => {
    if (closed) return;
    closed = true;
    release();
    res.end();
    if (reason === 'behind') {
      options.logger?.debug({ ...options.logContext, pending: res.writableLength }, 'SSE client too slow; ending its stream');
      // A client that reads nothing would hold the queued bytes forever: give it one heartbeat
      // period to take them, then drop the connection.
      forceClose = setTimeout(() => res.destroy(), Math.max(heartbeatMs, 1000));
      forceClose.unref();
    }
  };

  const write = (chunk: string | Buffer): void => {
    if (closed) return;
    const flushed = res.write(chunk);
    if (!flushed && res.writableLength > maxPendingBytes) finish('behind');
  };

  res.on('close', () => {
    closed = true;
    release();
    if (forceClose) clearTimeout(forceClose);
  });

  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache, no-transform',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  res.flushHeaders();
  req.socket.setNoDelay(true);

  return {
    write,
    finish,
    startHeartbeat() {
      if (closed || heartbeat) return;
      heartbeat = setInterval(() => write(': ping\n\n'), heartbeatMs);
      heartbeat.unref();
    },
    get closed() {
      return closed;
    },
  };
}
