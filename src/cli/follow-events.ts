import { createParser } from 'eventsource-parser';
import { REPLAY_COMPLETE_COMMENT } from '../http/sse-stream.js';
import { errorMessage } from '../errors.js';
import { ApiError, ServerUnreachableError, type ApiClient, type SessionEventJson } from './api-client.js';
import { CliError } from './cli-io.js';

/** Three of the server's 15 s heartbeats missed in a row: the connection is dead, not quiet. */
export const DEFAULT_STREAM_IDLE_MS = 45_000;

export interface FollowEventsOptions {
  client: ApiClient;
  sessionId: string;
  /** Start after this event id (0: from the beginning). */
  afterId?: number;
  /** Stop once the stored history has been replayed instead of waiting for `done`. */
  untilReplayed?: boolean;
  /** Stop after this event too (a chat going back to `idle`), as after `done`. */
  stopAfter?: (event: SessionEventJson) => boolean;
  onEvent(event: SessionEventJson): void;
  /** Ends the following (Ctrl-C): the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Reconnections in a row without a new event before giving up; default 5. */
  maxRetries?: number;
  retryDelayMs?: number;
  /** A stream silent this long (not even a heartbeat) is dropped and reopened; default 45 s. */
  idleMs?: number;
}

export interface FollowEventsResult {
  lastEventId: number;
  /** The `done` event, when the stream got that far. */
  done: SessionEventJson | undefined;
  /** The event `stopAfter` stopped at. */
  stoppedAt: SessionEventJson | undefined;
}

type StreamEnd = 'done' | 'replayed' | 'stopped' | 'ended';

class StreamSilentError extends Error {
  constructor(idleMs: number) {
    super(`no data for ${Math.round(idleMs / 1000)} s, not even the server's heartbeat`);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Reads a session's event stream until `done` (or the end of the replay). A dropped connection,
 * a silent one, or a server that ended the stream because this client fell behind, is resumed
 * with Last-Event-ID; events already seen are skipped by id.
 */
export async function followEvents(options: FollowEventsOptions): Promise<FollowEventsResult> {
  const maxRetries = options.maxRetries ?? 5;
  const retryDelayMs = options.retryDelayMs ?? 500;
  const idleMs = options.idleMs ?? DEFAULT_STREAM_IDLE_MS;
  const { signal } = options;
  let lastEventId = options.afterId ?? 0;
  let done: SessionEventJson | undefined;
  let stoppedAt: SessionEventJson | undefined;
  let failures = 0;
  let connected = false;

  for (;;) {
    signal?.throwIfAborted();
    const before = lastEventId;
    let end: StreamEnd;
    let problem: unknown;
    try {
      end = await readOnce();
    } catch (error) {
      signal?.throwIfAborted();
      // The server said no (404, 401): retrying cannot help.
      if (error instanceof ApiError) throw error;
      end = 'ended';
      problem = error;
    }
    if (end !== 'ended') return { lastEventId, done, stoppedAt };
    failures = lastEventId > before ? 0 : failures + 1;
    if (failures > maxRetries) throw lostStream(problem);
    await sleep(failures === 0 ? 0 : retryDelayMs * failures);
  }

  function lostStream(problem: unknown): CliError {
    const id = options.sessionId;
    // The stream was open and now nothing answers: the server stopped or restarted, which is
    // not the network's fault, and the session's fate is decided there.
    if (connected && problem instanceof ServerUnreachableError) {
      return new CliError(
        `the TeleCoder server at ${options.client.server} went away while following session ${id} (it stopped, crashed or is restarting). ` +
          `Once it is back, \`telecoder status ${id}\` shows how the session ended (\`telecoder logs ${id} --follow\` to keep watching)`,
      );
    }
    if (problem instanceof CliError) return problem;
    const reason = problem === undefined ? '' : ` (${errorMessage(problem)})`;
    return new CliError(`lost the event stream of session ${id}${reason}; follow it again with \`telecoder logs ${id} --follow\``);
  }

  async function readOnce(): Promise<StreamEnd> {
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    let end: StreamEnd | undefined;
    let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
    try {
      const response = await options.client.openEvents(options.sessionId, lastEventId, controller.signal);
      connected = true;
      const parser = createParser({
        onEvent(message) {
          if (end) return;
          const event = JSON.parse(message.data) as SessionEventJson;
          if (event.id <= lastEventId) return;
          lastEventId = event.id;
          options.onEvent(event);
          if (event.type === 'done') {
            done = event;
            end = 'done';
          } else if (options.stopAfter?.(event)) {
            stoppedAt = event;
            end = 'stopped';
          }
        },
        onComment(comment) {
          if (!end && options.untilReplayed && comment.trim() === REPLAY_COMPLETE_COMMENT) end = 'replayed';
        },
      });
      reader = response.body?.getReader();
      if (!reader) return 'ended';
      const decoder = new TextDecoder();
      while (!end) {
        const chunk = await readWithin(reader, idleMs);
        if (chunk.done) break;
        parser.feed(decoder.decode(chunk.value, { stream: true }));
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      controller.abort();
      await reader?.cancel().catch(() => undefined);
    }
    return end ?? 'ended';
  }
}

/** One read, or StreamSilentError when nothing (not even a heartbeat) came for `idleMs`. */
function readWithin(reader: ReadableStreamDefaultReader<Uint8Array>, idleMs: number): ReturnType<ReadableStreamDefaultReader<Uint8Array>["read"]> {
  let timer: NodeJS.Timeout | undefined;
  const silent = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StreamSilentError(idleMs)), idleMs);
  });
  return Promise.race([reader.read(), silent]).finally(() => clearTimeout(timer));
}
