/**
 * A real HTTP server on 127.0.0.1 that plays an LLM from a script, in three wire formats: Anthropic
 * Messages (POST /v1/messages), OpenAI Chat Completions (POST /v1/chat/completions) and OpenAI
 * Responses (POST /v1/responses), each as JSON or, when the body says `stream: true`, as the
 * provider's server-sent events (scripted-llm-wire.ts). Each request takes the next step of the
 * script; a step may be a function of the request, to answer side requests. Every request body is
 * recorded so tests can assert on what the model was sent. GET /v1/models lists two models and
 * takes no step.
 */
import { createServer, type ServerResponse } from 'node:http';
import { listenOnLoopback } from './listen-on-loopback.js';
import { readBody } from './stand-in-http.js';
import {
  anthropicEvents,
  anthropicMessage,
  chatCompletion,
  chatEvents,
  responsesBody,
  responsesEvents,
  wireId,
  type WireReply,
} from './scripted-llm-wire.js';

export type WireFormat = 'anthropic' | 'openai' | 'responses';

export interface RecordedRequest {
  format: WireFormat;
  /** Path and query string, as the request line had them. */
  url: string;
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
  /** For OpenAIClient's baseURL, `${url}/v1`: the SDK appends /chat/completions or /responses. */
  openaiBaseUrl: string;
  requests: RecordedRequest[];
  /** Steps not yet used. */
  remaining(): number;
  close(): Promise<void>;
}

function isFault(step: ScriptedResponse): step is ScriptedFault {
  return typeof (step as ScriptedFault).status === 'number';
}

const id = wireId;

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
  // Chat Completions and Responses share OpenAI's error shape.
  return format === 'anthropic'
    ? { type: 'error', error: { type, message } }
    : { error: { message, type, param: null, code: null } };
}

/** Settles a scripted reply: the model, the stop reason and the usage it reports. */
function settle(reply: ScriptedReply, request: RecordedRequest, usage: ScriptedLLMOptions['usage']): WireReply {
  const toolCalls = (reply.toolCalls ?? []).map((call) => ({
    name: call.name,
    argumentsText: typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments),
    input: call.arguments,
  }));
  return {
    model: reply.model ?? request.body?.model ?? 'scripted',
    ...(reply.text !== undefined ? { text: reply.text } : {}),
    toolCalls,
    stop: reply.stopReason ?? (toolCalls.length > 0 ? 'tool_use' : 'end'),
    usage: (reply.usage === undefined ? usage : reply.usage) ?? null,
  };
}

function replyBody(format: WireFormat, reply: WireReply, request: RecordedRequest): unknown {
  if (format === 'anthropic') return anthropicMessage(reply);
  if (format === 'openai') return chatCompletion(reply);
  return responsesBody(reply, request.body);
}

function replyEvents(format: WireFormat, reply: WireReply, request: RecordedRequest): string[] {
  if (format === 'anthropic') return anthropicEvents(reply);
  if (format === 'openai') return chatEvents(reply, request.body?.stream_options?.include_usage === true);
  return responsesEvents(reply, request.body);
}

/** Writes the events one by one, yielding between them, so they reach the client as a stream. */
async function sendEvents(res: ServerResponse, events: string[]): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'request-id': id('req_') });
  res.flushHeaders();
  for (const event of events) {
    if (res.destroyed) return;
    res.write(event);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  res.end();
}

/** GET /v1/models in a shape both SDKs read (Anthropic's and OpenAI's fields side by side). */
function modelList(): unknown {
  const models = ['scripted-model', 'scripted-model-large'].map((name) => ({
    id: name,
    type: 'model',
    object: 'model',
    display_name: name,
    created_at: '2025-01-01T00:00:00Z',
    created: 1735689600,
    owned_by: 'scripted',
  }));
  return { object: 'list', data: models, has_more: false, first_id: models[0]?.id, last_id: models.at(-1)?.id };
}

const ROUTES: Record<string, WireFormat> = {
  '/v1/messages': 'anthropic',
  '/v1/chat/completions': 'openai',
  '/v1/responses': 'responses',
};

export async function startScriptedLLM(script: ScriptStep[], options: ScriptedLLMOptions = {}): Promise<ScriptedLLM> {
  const usage = options.usage ?? { inputTokens: 100, outputTokens: 20 };
  const requests: RecordedRequest[] = [];
  let next = 0;
  let closing = false;
  const timers = new Set<NodeJS.Timeout>();

  const server = createServer((req, res) => {
    void (async () => {
      const path = (req.url ?? '').split('?')[0];
      if (req.method === 'GET' && path === '/v1/models') {
        sendJson(res, 200, modelList());
        return;
      }
      const format: WireFormat | undefined = req.method === 'POST' && path ? ROUTES[path] : undefined;
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
      const recorded: RecordedRequest = { format, url: req.url ?? '', body, headers: req.headers, fate: 'open' };
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
      const reply = settle(response, recorded, usage);
      if ((body as { stream?: unknown } | null)?.stream === true) {
        await sendEvents(res, replyEvents(format, reply, recorded));
        return;
      }
      sendJson(res, 200, replyBody(format, reply, recorded));
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
