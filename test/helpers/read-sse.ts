import { createParser, type EventSourceMessage } from 'eventsource-parser';

/** Reads an SSE endpoint until the `done` event (or the stream ends) and returns what it got. */
export async function readSse(
  url: string,
  options: { headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<EventSourceMessage[]> {
  const messages: EventSourceMessage[] = [];
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.timeoutMs ?? 60_000);
  try {
    const response = await fetch(url, { headers: options.headers, signal: controller.signal });
    if (!response.ok || !response.body) throw new Error(`SSE ${url} answered ${response.status}`);
    let done = false;
    const parser = createParser({
      onEvent(message) {
        messages.push(message);
        if (message.event === 'done') done = true;
      },
    });
    const decoder = new TextDecoder();
    for await (const chunk of response.body) {
      parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }));
      if (done) break;
    }
    return messages;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}
