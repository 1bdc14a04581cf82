/**
 * A real HTTP server on 127.0.0.1 that plays an LLM from a script, in both wire formats: Anthropic
 * Messages (POST /v1/messages) and OpenAI Chat Completions (POST /v1/chat/completions), both
 * non-streaming. Each request takes the next step of the script. Every request body is recorded so
 * tests can assert on what the model was sent.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import { listenOnLoopback } from './listen-on-loopback.js';
import { readBody } from './stand-in-http.js';

export type WireFormat = 'anthropic' | 'openai';

export interface RecordedRequest {
  format: WireFormat;
  // Loosely typed on purpose: tests dig into two providers' bodies.
  body: any;
  headers: Record<string, string | string[] | undefined>;
  /**
   * What became of the request: `open` while no answer was sent, `answered` once one was, and
   * `closed-by-client` when the client closed the connection before an answer (an aborted call).
   * Connections the server itself closes (close()) stay `open`.
   */
  fate: 'open' | 'answered' | 'closed-by-client';
}

interface StepTiming {
  /** Wait this long before answering. */
  delayMs?: number;
  /** Never answer (the connection stays open until the client gives up or the server closes). */
  hang?: boolean;
}

export interface ScriptedToolCall {
  name: string;
  /**
   * An object is sent as the tool's arguments. A string is sent raw: as the `arguments` text in
   * the OpenAI format (so it may be malformed JSON), and as a JSON string in place of the `input`
   * object in the Anthropic format (whose `input` can only be a JSON value).
   */
  arguments: object | string;
}

export interface ScriptedReply extends StepTiming {
  text?: string;
  toolCalls?: ScriptedToolCall[];
  /** Default: 'tool_use' when there are tool calls, else 'end'. */
  stopReason?: 'end' | 'tool_use' | 'max_tokens';
  /** Tokens reported for this reply; null leaves the usage field out. Default: the server's. */
  usage?: { inputTokens: number; outputTokens: number } | null;
  /** Model name in the answer; default: the requested one. */
  model?: string;
}

export interface ScriptedFault extends StepTiming {
  status: number;
  headers?: Record<string, string>;
  /** An object is sent as JSON, a string as is; default: the provider's error shape. */
  body?: unknown;
}

export type ScriptedResponse = ScriptedReply | ScriptedFault;
export type ScriptStep = ScriptedResponse | ((request: RecordedRequest, index: number) => ScriptedResponse);

export interface ScriptedLLMOptions {
  /** Usage reported by replies that do not set their own. Default input 100, output 20. */
  usage?: { inputTokens: number; outputTokens: number };
}

export interface ScriptedLLM {
  url: string;
  /** For AnthropicClient's baseURL: the SDK appends /v1/messages. */
  anthropicBaseUrl: string;
  /** For OpenAIClient's baseURL: `${url}/v1`. */
  openaiBaseUrl: string;
  requests: RecordedRequest[];
  /** Steps not yet used. */
  remaining(): number;
  close(): Promise<void>;
}

function isFault(step: ScriptedResponse): step is ScriptedFault {
  return typeof (step as ScriptedFault).status === 'number';
}

function id(prefix: string): string {
  return `${prefix}${randomBytes(12).toString('hex')}`;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': typeof body === 'string' ? 'text/plain' : 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function errorBody(format: WireFormat, message: string, type = 'api_error'): unknown {
  return format === 'anthropic'
    ? { type: 'error', error: { type, message } }
    : { error: { message, type, param: null, code: null } };
}

function anthropicReply(reply: ScriptedReply, request: RecordedRequest, usage: ScriptedLLMOptions['usage']) {
  const content: unknown[] = [];
  if (reply.text !== undefined) content.push({ type: 'text', text: reply.text, citations: null });
  for (const call of reply.toolCalls ?? []) {
    content.push({ type: 'tool_use', id: id('toolu_'), name: call.name, input: call.arguments });
  }
  const hasCalls = (reply.toolCalls?.length ?? 0) > 0;
  const stop = reply.stopReason ?? (hasCalls ? 'tool_use' : 'end');
  const tokens = reply.usage === undefined ? usage : reply.usage;
  return {
    id: id('msg_'),
    type: 'message',
    role: 'assistant',
    model: reply.model ?? request.body?.model ?? 'scripted',
    content,
    stop_reason: stop === 'end' ? 'end_turn' : stop,
    stop_sequence: null,
    ...(tokens
      ? {
          usage: {
            input_tokens: tokens.inputTokens,
            output_tokens: tokens.outputTokens,
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: 0,
          },
        }
      : {}),
  };
}

function openaiReply(reply: ScriptedReply, request: RecordedRequest, usage: ScriptedLLMOptions['usage']) {
  const calls = (reply.toolCalls ?? []).map((call) => ({
    id: id('call_'),
    type: 'function',
    function: {
      name: call.name,
      arguments: typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments),
    },
  }));
  const stop = reply.stopReason ?? (calls.length > 0 ? 'tool_use' : 'end');
  const tokens = reply.usage === undefined ? usage : reply.usage;
  return {
    id: id('chatcmpl-'),
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: reply.model ?? request.body?.model ?? 'scripted',
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: reply.text ?? null,
          refusal: null,
          ...(calls.length > 0 ? { tool_calls: calls } : {}),
        },
        finish_reason: stop === 'tool_use' ? 'tool_calls' : stop === 'max_tokens' ? 'length' : 'stop',
        logprobs: null,
      },
    ],
    ...(tokens
      ? {
          usage: {
            prompt_tokens: tokens.inputTokens,
            completion_tokens: tokens.outputTokens,
            total_tokens: tokens.inputTokens + tokens.outputTokens,
          },
        }
      : {}),
  };
}

export async function startScriptedLLM(script: ScriptStep[], options: ScriptedLLMOptions = {}): Promise<ScriptedLLM> {
  const usage = options.usage ?? { inputTokens: 100, outputTokens: 20 };
  const requests: RecordedRequest[] = [];
  let next = 0;
  let closing = false;
  const timers = new Set<NodeJS.Timeout>();

  const server = createServer((req, res) => {
    void (async () => {
      const path = (req.url ?? '').split('?')[0];
      const format: WireFormat | undefined =
        req.method === 'POST' && path === '/v1/messages'
          ? 'anthropic'
          : req.method === 'POST' && path === '/v1/chat/completions'
            ? 'openai'
            : undefined;
      if (!format) {
        sendJson(res, 404, { error: { message: `scripted LLM: no route for ${req.method} ${req.url}` } });
        return;
      }
      const text = await readBody(req);
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        sendJson(res, 400, errorBody(format, 'scripted LLM: the request body is not JSON', 'invalid_request_error'));
        return;
      }
      const recorded: RecordedRequest = { format, body, headers: req.headers, fate: 'open' };
      requests.push(recorded);
      // The response closing before it was finished means the client hung up on it (an abort),
      // unless the server is closing its own connections.
      res.once('finish', () => {
        recorded.fate = 'answered';
      });
      res.once('close', () => {
        if (!res.writableFinished && !closing) recorded.fate = 'closed-by-client';
      });
      const index = next++;
      const step = script[index];
      if (step === undefined) {
        // x-should-retry: false keeps the SDKs from retrying a script that has simply run out.
        sendJson(
          res,
          500,
          errorBody(
            format,
            `scripted LLM: the script has no step for request #${index + 1} (it has ${script.length} steps)`,
          ),
          { 'x-should-retry': 'false' },
        );
        return;
      }
      const response = typeof step === 'function' ? step(recorded, index) : step;
      if (response.hang) return;
      if (response.delayMs) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            timers.delete(timer);
            resolve();
          }, response.delayMs);
          timers.add(timer);
        });
      }
      if (res.destroyed) return;
      if (isFault(response)) {
        const faultBody = response.body ?? errorBody(format, `scripted fault ${response.status}`);
        sendJson(res, response.status, faultBody, response.headers);
        return;
      }
      sendJson(res, 200, format === 'anthropic' ? anthropicReply(response, recorded, usage) : openaiReply(response, recorded, usage));
    })().catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: { message: `scripted LLM crashed: ${String(error)}` } });
    });
  });

  const url = await listenOnLoopback(server);

  return {
    url,
    anthropicBaseUrl: url,
    openaiBaseUrl: `${url}/v1`,
    requests,
    remaining: () => Math.max(0, script.length - next),
    close: async () => {
      closing = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      // Hanging steps keep their connections open; close them so close() resolves.
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
