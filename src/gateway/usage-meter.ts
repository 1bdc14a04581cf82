import { createParser } from 'eventsource-parser';
import type { UsageApi } from './gateway-routes.js';
import { anthropicMessages, chatCompletions, responses, type UsageFormat, type UsageTally } from './usage-formats.js';

export interface MeteredUsage {
  /** The model the answer named; undefined when it named none. */
  model?: string;
  inputTokens: number;
  outputTokens: number;
}

/** Reads the usage out of an answer while it passes through, chunk by chunk. */
export interface UsageMeter {
  push(chunk: Uint8Array): void;
  /** What the answer reported; undefined when it reported no usage. */
  result(): MeteredUsage | undefined;
}

const FORMATS: Record<Exclude<UsageApi, null>, UsageFormat> = {
  'anthropic-messages': anthropicMessages,
  'chat-completions': chatCompletions,
  responses,
};

/** A JSON answer larger than this is passed on without its usage being read (none is this big). */
const MAX_JSON_BYTES = 32 * 1024 * 1024;

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * An event stream (text/event-stream) is parsed event by event as it arrives; anything else is
 * collected and read as one JSON body at the end. The bytes themselves go to the client untouched.
 */
export function createUsageMeter(api: Exclude<UsageApi, null>, contentType: string | null): UsageMeter {
  const format = FORMATS[api];
  const tally: UsageTally = { input: {} };
  const result = (): MeteredUsage | undefined => {
    const inputs = Object.values(tally.input);
    if (inputs.length === 0 && tally.output === undefined) return undefined;
    return {
      ...(tally.model !== undefined ? { model: tally.model } : {}),
      inputTokens: inputs.reduce((sum, value) => sum + value, 0),
      outputTokens: tally.output ?? 0,
    };
  };

  if (contentType?.toLowerCase().includes('text/event-stream')) {
    const decoder = new TextDecoder();
    const parser = createParser({
      onEvent(event) {
        if (event.data === '[DONE]') return;
        const data = parseJson(event.data);
        if (data !== undefined) format.event(tally, data);
      },
    });
    return {
      push: (chunk) => parser.feed(decoder.decode(chunk, { stream: true })),
      result,
    };
  }

  const chunks: Uint8Array[] = [];
  let size = 0;
  let read = false;
  return {
    push(chunk) {
      size += chunk.length;
      if (size <= MAX_JSON_BYTES) chunks.push(chunk);
      else chunks.length = 0;
    },
    result() {
      if (!read && size <= MAX_JSON_BYTES) {
        read = true;
        format.json(tally, parseJson(Buffer.concat(chunks).toString('utf8')));
        chunks.length = 0;
      }
      return result();
    },
  };
}
