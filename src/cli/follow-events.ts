import { createParser } from 'eventsource-parser';
import { REPLAY_COMPLETE_COMMENT } from '../http/sse-stream.js';
import { errorMessage } from '../errors.js';
import { ApiError, type ApiClient, type SessionEventJson } from './api-client.js';
import { CliError } from './cli-io.js';

export interface FollowEventsOptions {
  client: ApiClient;
  sessionId: string;
  /** Start after this event id (0: from the beginning). */
  afterId?: number;
  /** Stop once the stored history has been replayed instead of waiting for `done`. */
  untilReplayed?: boolean;
  onEvent(event: SessionEventJson): void;
  /** Reconnections in a row without a new event before giving up; default 5. */
  maxRetries?: number;
  retryDelayMs?: number;
}

export interface FollowEventsResult {
  lastEventId: number;
  /** The `done` event, when the stream got that far. */
  done: SessionEventJson | undefined;
}

type StreamEnd = 'done' | 'replayed' | 'ended';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Reads a session's event stream until `done` (or the end of the replay). A dropped connection,
 * or a server that ended the stream because this client fell behind, is resumed with
 * Last-Event-ID; events already seen are skipped by id.
 */
export async function followEvents(options: FollowEventsOptions): Promise<FollowEventsResult> {
  const maxRetries = options.maxRetries ?? 5;
  const retryDelayMs = options.retryDelayMs ?? 500;
  let lastEventId = options.afterId ?? 0;
  let done: SessionEventJson | undefined;
  let failures = 0;

  for (;;) {
    const before = lastEventId;
    let end: StreamEnd;
    let problem: unknown;
    try {
      end = await readOnce();
    } catch (error) {
      // The server said no (404, 401): retrying cannot help.
      if (error instanceof ApiError) throw error;
      end = 'ended';
      problem = error;
    }
    if (end !== 'ended') return { lastEventId, done };
    failures = lastEventId > before ? 0 : failures + 1;
    if (failures > maxRetries) {
      if (problem instanceof CliError) throw problem;
      const reason = problem === undefined ? '' : ` (${errorMessage(problem)})`;
      throw new CliError(
        `lost the event stream of session ${options.sessionId}${reason}; follow it again with \`telecoder logs ${options.sessionId} --follow\``,
      );
    }
    await sleep(failures === 0 ? 0 : retryDelayMs * failures);
  }

  async function readOnce(): Promise<StreamEnd> {
    const controller = new AbortController();
    const response = await options.client.openEvents(options.sessionId, lastEventId, controller.signal);
    let end: StreamEnd | undefined;
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
        }
      },
      onComment(comment) {
        if (!end && options.untilReplayed && comment.trim() === REPLAY_COMPLETE_COMMENT) end = 'replayed';
      },
    });
    const reader = response.body?.getReader();
    if (!reader) return 'ended';
    const decoder = new TextDecoder();
    try {
      while (!end) {
        const chunk = await reader.read();
        if (chunk.done) break;
        parser.feed(decoder.decode(chunk.value, { stream: true }));
      }
    } finally {
      controller.abort();
      await reader.cancel().catch(() => undefined);
    }
    return end ?? 'ended';
  }
}
