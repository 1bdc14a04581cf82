import { describe, expect, it } from 'vitest';
import { followSse, readSse, SseParser, type SseMessage } from '../../web/src/api/sse-reader.js';

/** A response whose body arrives in exactly these chunks. */
function streamed(chunks: string[], status = 200): Response {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
  return new Response(body, { status, headers: { 'Content-Type': 'text/event-stream' } });
}

describe('SseParser', () => {
  it('joins lines split across chunks, skips comments and keeps ids and event names', () => {
    const parser = new SseParser();
    const messages = [
      ...parser.feed(': ping\n\nid: 7\nevent: sta'),
      ...parser.feed('tus\ndata: {"a":'),
      ...parser.feed('1}\n\ndata: line one\ndata: line two\n\n'),
    ];
    expect(messages).toEqual([
      { event: 'status', data: '{"a":1}', id: '7' },
      { event: 'message', data: 'line one\nline two' },
    ]);
  });

  it('takes a CRLF split between two chunks as one line end', () => {
    const parser = new SseParser();
    expect(parser.feed('data: x\r')).toEqual([]);
    expect(parser.feed('\n\r\n')).toEqual([{ event: 'message', data: 'x' }]);
  });
});

describe('readSse', () => {
  it('sends the headers and Last-Event-ID and resolves with the last id seen', async () => {
    const seen: RequestInit[] = [];
    const messages: SseMessage[] = [];
    const last = await readSse({
      url: '/api/sessions/s1/events',
      headers: { Authorization: 'Bearer t' },
      lastEventId: '3',
      onMessage: (message) => messages.push(message),
      fetch: async (_url, init) => {
        seen.push(init!);
        return streamed(['id: 4\nevent: output\ndata: "a"\n\n', 'id: 5\nevent: done\ndata: "b"\n\n']);
      },
    });
    expect(seen[0]!.headers).toEqual({ Accept: 'text/event-stream', Authorization: 'Bearer t', 'Last-Event-ID': '3' });
    expect(messages.map((message) => message.id)).toEqual(['4', '5']);
    expect(last).toBe('5');
  });

  it('rejects with the status when the server refuses', async () => {
    await expect(readSse({ url: '/x', headers: {}, onMessage: () => {}, fetch: async () => new Response('{}', { status: 401 }) })).rejects.toMatchObject({ status: 401 });
  });
});

describe('followSse', () => {
  it('reconnects after a drop with the last event id, and stops once finished', async () => {
    const sentIds: Array<string | undefined> = [];
    const bodies = [['id: 1\ndata: "one"\n\nid: 2\ndata: "two"\n\n'], ['id: 3\nevent: done\ndata: "three"\n\n']];
    const data: string[] = [];
    let finished = false;
    await followSse({
      url: '/api/sessions/s1/events',
      headers: {},
      signal: new AbortController().signal,
      isFinished: () => finished,
      sleep: async () => {},
      onMessage: (message) => {
        data.push(message.data);
        if (message.event === 'done') finished = true;
      },
      fetch: async (_url, init) => {
        sentIds.push((init!.headers as Record<string, string>)['Last-Event-ID']);
        const body = bodies.shift();
        if (!body) throw new Error('connected once too often');
        return streamed(body);
      },
    });
    expect(sentIds).toEqual([undefined, '2']);
    expect(data).toEqual(['"one"', '"two"', '"three"']);
  });

  it('reconnects after a network error and gives up on 401', async () => {
    const answers: Array<() => Response> = [
      () => {
        throw new TypeError('network down');
      },
      () => new Response('{"error":"unauthorized"}', { status: 401 }),
    ];
    let unauthorized = 0;
    let attempts = 0;
    await followSse({
      url: '/api/sessions/stream',
      headers: {},
      signal: new AbortController().signal,
      sleep: async () => {},
      onUnauthorized: () => unauthorized++,
      onMessage: () => {},
      fetch: async () => {
        attempts++;
        return answers.shift()!();
      },
    });
    expect(attempts).toBe(2);
    expect(unauthorized).toBe(1);
  });
});
