import { createParser, type EventSourceMessage } from 'eventsource-parser';

export interface SseClient {
  status: number;
  headers: Headers;
  messages: EventSourceMessage[];
  comments: string[];
  /** Resolves when the server ends the stream (not when the client aborts it). */
  ended: Promise<void>;
  /** Resolves once `predicate` holds for what was received so far. */
  waitFor(predicate: () => boolean, timeoutMs?: number): Promise<void>;
  close(): void;
}

/** Opens an SSE endpoint and records every event and comment as it arrives. */
export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  const controller = new AbortController();
  const response = await fetch(url, { headers, signal: controller.signal });
  const messages: EventSourceMessage[] = [];
  const comments: string[] = [];
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const waiter of waiters) waiter();
  };
  const parser = createParser({
    onEvent(message) {
      messages.push(message);
      notify();
    },
    onComment(comment) {
      comments.push(comment.trim());
      notify();
    },
  });
  let endedFlag = false;
  const ended = (async () => {
    if (!response.body) return;
    const decoder = new TextDecoder();
    try {
      for await (const chunk of response.body) parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }));
      endedFlag = true;
    } catch (error) {
      if (!controller.signal.aborted) throw error;
    } finally {
      notify();
    }
  })();
  const endedByServer = ended.then(() => {
    if (!endedFlag) throw new Error('the stream was aborted by the client, not ended by the server');
  });
  endedByServer.catch(() => undefined);
  return {
    status: response.status,
    headers: response.headers,
    messages,
    comments,
    ended: endedByServer,
    waitFor(predicate, timeoutMs = 10_000) {
      if (predicate()) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`SSE condition not met in ${timeoutMs} ms; got ${messages.length} events, comments ${JSON.stringify(comments)}`));
        }, timeoutMs);
        const check = () => {
          if (!predicate()) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
      });
    },
    close() {
      controller.abort();
    },
  };
}
