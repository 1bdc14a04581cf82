/**
 * Server-sent events over fetch. EventSource cannot send an Authorization header, and the token
 * must never go into a URL (URLs end up in logs), so the dashboard reads the stream itself.
 */

export interface SseMessage {
  event: string;
  data: string;
  /** The `id:` of this message, when it had one. */
  id?: string;
}

/** Incremental parser for the text/event-stream format; chunks may split lines anywhere. */
export class SseParser {
  #buffer = '';
  #event = '';
  #data: string[] = [];
  #id: string | undefined;

  feed(chunk: string): SseMessage[] {
    this.#buffer += chunk;
    const messages: SseMessage[] = [];
    for (;;) {
      const match = /\r\n|\n|\r/.exec(this.#buffer);
      // A lone "\r" at the end may be the first half of "\r\n": wait for the next chunk.
      if (!match || (match[0] === '\r' && match.index === this.#buffer.length - 1)) break;
      const line = this.#buffer.slice(0, match.index);
      this.#buffer = this.#buffer.slice(match.index + match[0].length);
      const message = this.#line(line);
      if (message) messages.push(message);
    }
    return messages;
  }

  #line(line: string): SseMessage | undefined {
    if (line === '') {
      const message = this.#data.length > 0 ? { event: this.#event || 'message', data: this.#data.join('\n'), ...(this.#id !== undefined ? { id: this.#id } : {}) } : undefined;
      this.#event = '';
      this.#data = [];
      this.#id = undefined;
      return message;
    }
    if (line.startsWith(':')) return undefined; // a comment: the server's `: ping` heartbeat
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.#event = value;
    else if (field === 'data') this.#data.push(value);
    else if (field === 'id' && !value.includes('\0')) this.#id = value;
    return undefined;
  }
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export interface ReadSseOptions {
  url: string;
  headers: Record<string, string>;
  /** Sent as `Last-Event-ID` so the server resumes after it. */
  lastEventId?: string | undefined;
  signal?: AbortSignal;
  onMessage: (message: SseMessage) => void;
  fetch?: typeof fetch;
}

/** Reads one connection to its end. Resolves with the last event id seen; rejects on HTTP errors. */
export async function readSse(options: ReadSseOptions): Promise<string | undefined> {
  const doFetch = options.fetch ?? fetch;
  const headers: Record<string, string> = { Accept: 'text/event-stream', ...options.headers };
  if (options.lastEventId !== undefined) headers['Last-Event-ID'] = options.lastEventId;
  const response = await doFetch(options.url, { headers, ...(options.signal ? { signal: options.signal } : {}) });
  if (!response.ok || !response.body) throw new HttpError(response.status, `${options.url} answered ${response.status}`);
  const parser = new SseParser();
  const decoder = new TextDecoder();
  const reader = response.body.getReader();
  let lastEventId = options.lastEventId;
  for (;;) {
    const { done, value } = await reader.read();
    const messages = parser.feed(done ? decoder.decode() : decoder.decode(value, { stream: true }));
    for (const message of messages) {
      if (message.id !== undefined) lastEventId = message.id;
      options.onMessage(message);
    }
    if (done) return lastEventId;
  }
}

export interface FollowSseOptions extends Omit<ReadSseOptions, 'lastEventId' | 'signal'> {
  signal: AbortSignal;
  /** True once the stream has said all it will (a session's `done`): no reconnect then. */
  isFinished?: () => boolean;
  /** Called when the server refuses the token: reconnecting would not help. */
  onUnauthorized?: () => void;
  onConnectionChange?: (connected: boolean) => void;
  retryMs?: number;
  /** Injected for tests. */
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Keeps a stream open: reconnects after a drop, resuming from the last event id it saw. */
export async function followSse(options: FollowSseOptions): Promise<void> {
  const sleep = options.sleep ?? defaultSleep;
  let lastEventId: string | undefined;
  while (!options.signal.aborted) {
    try {
      lastEventId = await readSse({
        ...options,
        lastEventId,
        onMessage: (message) => {
          if (message.id !== undefined) lastEventId = message.id;
          options.onConnectionChange?.(true);
          options.onMessage(message);
        },
      });
    } catch (error) {
      if (options.signal.aborted) return;
      if (error instanceof HttpError && error.status === 401) {
        options.onUnauthorized?.();
        return;
      }
    }
    if (options.isFinished?.() || options.signal.aborted) return;
    options.onConnectionChange?.(false);
    await sleep(options.retryMs ?? 2000);
  }
}
