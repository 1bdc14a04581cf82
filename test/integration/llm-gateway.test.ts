import Anthropic, { APIError as AnthropicAPIError } from '@anthropic-ai/sdk';
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { createServer, type Server } from 'node:net';
import { Duplex } from 'node:stream';
import OpenAI, { APIError as OpenAIAPIError } from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { createLLMGateway, type LLMGatewayOptions } from '../../src/gateway/llm-gateway.js';
import type { GatewayGrant, GatewayUsage, LLMGateway } from '../../src/gateway/llm-gateway-types.js';
import { createLogger } from '../../src/logger.js';
import { listenOnLoopback } from '../helpers/listen-on-loopback.js';
import { startScriptedLLM, type ScriptStep, type ScriptedLLM } from '../helpers/scripted-llm-server.js';
import { waitUntil } from '../helpers/wait-until.js';

const ANTHROPIC_KEY = `sk-ant-real-${randomBytes(16).toString('hex')}`;
const OPENAI_KEY = `sk-openai-real-${randomBytes(16).toString('hex')}`;
const TOOLS_ANTHROPIC = [
  { name: 'run', description: 'Run a command', input_schema: { type: 'object' as const, properties: { command: { type: 'string' } } } },
];
const TOOLS_CHAT = [
  { type: 'function' as const, function: { name: 'run', parameters: { type: 'object', properties: { command: { type: 'string' } } } } },
];
const TOOLS_RESPONSES = [
  { type: 'function' as const, name: 'run', strict: false, parameters: { type: 'object', properties: { command: { type: 'string' } } } },
];

/** A TCP listener on 127.0.0.1 standing in for one session's sandbox tunnel. */
async function tunnel(gateway: LLMGateway, sessionId: string): Promise<{ url: string; server: Server }> {
  const server = createServer((socket) => gateway.accept(socket, sessionId));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no address');
  return { url: `http://127.0.0.1:${address.port}`, server };
}

interface Stand {
  llm: ScriptedLLM;
  gateway: LLMGateway;
  grant: GatewayGrant;
  /** The tunnel of session-a. */
  url: string;
  usages: GatewayUsage[];
  refused: string[];
  logLines: string[];
  refuse(reason: string | null): void;
  anthropic(options?: { token?: string; url?: string; headers?: Record<string, string> }): Anthropic;
  openai(options?: { token?: string; url?: string; headers?: Record<string, string> }): OpenAI;
  tunnel(sessionId: string): Promise<string>;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function stand(script: ScriptStep[], overrides: Partial<LLMGatewayOptions> = {}): Promise<Stand> {
  const llm = await startScriptedLLM(script);
  cleanups.push(() => llm.close());
  const logLines: string[] = [];
  const logger = createLogger('info', { write: (line: string) => void logLines.push(line) });
  const gateway = createLLMGateway({
    anthropic: { apiKey: ANTHROPIC_KEY, baseUrl: llm.anthropicBaseUrl },
    openai: { apiKey: OPENAI_KEY, baseUrl: llm.openaiBaseUrl },
    logger,
    ...overrides,
  });
  const servers: Server[] = [];
  cleanups.push(async () => {
    // The gateway first: it cuts the tunnel connections the clients keep alive, so the listeners close at once.
    await gateway.close();
    for (const server of servers) await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const open = async (sessionId: string) => {
    const { url, server } = await tunnel(gateway, sessionId);
    servers.push(server);
    return url;
  };
  const url = await open('session-a');
  const usages: GatewayUsage[] = [];
  const refused: string[] = [];
  let refusal: string | null = null;
  const grant = gateway.grant({
    sessionId: 'session-a',
    refusal: () => refusal,
    onUsage: (usage) => usages.push(usage),
    onRefused: (reason) => refused.push(reason),
  });
  return {
    llm,
    gateway,
    grant,
    url,
    usages,
    refused,
    logLines,
    refuse: (reason) => {
      refusal = reason;
    },
    // maxRetries 0: a refusal must surface at once, and an error the SDK retried would hide a hang.
    anthropic: (options = {}) =>
      new Anthropic({
        apiKey: options.token ?? grant.token,
        baseURL: `${options.url ?? url}/anthropic`,
        maxRetries: 0,
        ...(options.headers ? { defaultHeaders: options.headers } : {}),
      }),
    openai: (options = {}) =>
      new OpenAI({
        apiKey: options.token ?? grant.token,
        baseURL: `${options.url ?? url}/openai/v1`,
        maxRetries: 0,
        ...(options.headers ? { defaultHeaders: options.headers } : {}),
      }),
    tunnel: open,
  };
}

/** Every header value the upstream saw, flattened, to search for a token. */
function headerText(headers: Record<string, string | string[] | undefined>): string {
  return JSON.stringify(headers);
}

const reply = {
  text: 'Here is the plan: run the tests.',
  toolCalls: [{ name: 'run', arguments: { command: 'npm test -- --reporter dot' } }],
  usage: { inputTokens: 321, outputTokens: 45 },
};

describe('LLM gateway: forwarding with the real key', () => {
  it('Anthropic Messages, JSON and streamed: delivers text and tool calls, sends the real key, counts usage', async () => {
    const s = await stand([reply, reply]);
    const client = s.anthropic({ headers: { cookie: 'session=browser-cookie' } });
    const params = {
      model: 'claude-test',
      max_tokens: 1000,
      tools: TOOLS_ANTHROPIC,
      messages: [{ role: 'user' as const, content: 'plan it' }],
    };

    const message = await client.messages.create(params);
    expect(message.content).toEqual([
      expect.objectContaining({ type: 'text', text: reply.text }),
      expect.objectContaining({ type: 'tool_use', name: 'run', input: { command: 'npm test -- --reporter dot' } }),
    ]);

    const streamed = await client.messages.stream(params).finalMessage();
    expect(streamed.content).toEqual([
      expect.objectContaining({ type: 'text', text: reply.text }),
      expect.objectContaining({ type: 'tool_use', name: 'run', input: { command: 'npm test -- --reporter dot' } }),
    ]);
    expect(streamed.stop_reason).toBe('tool_use');

    expect(s.llm.requests).toHaveLength(2);
    for (const request of s.llm.requests) {
      expect(request.headers['x-api-key']).toBe(ANTHROPIC_KEY);
      expect(request.headers['anthropic-version']).toBeDefined();
      expect(request.headers.cookie).toBeUndefined();
      expect(headerText(request.headers)).not.toContain(s.grant.token);
    }
    expect(s.llm.requests[1]?.body.stream).toBe(true);
    expect(s.usages).toEqual([
      { model: 'claude-test', inputTokens: 321, outputTokens: 45 },
      { model: 'claude-test', inputTokens: 321, outputTokens: 45 },
    ]);
  });

  it('Anthropic usage adds cache writes and reads to the input, from JSON and from message_start / message_delta', async () => {
    const usage = { input_tokens: 10, cache_creation_input_tokens: 200, cache_read_input_tokens: 3000, output_tokens: 7 };
    const message = {
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      model: 'claude-answering',
      content: [{ type: 'text', text: 'ok' }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage,
    };
    const events = [
      ['message_start', { type: 'message_start', message: { ...message, content: [], stop_reason: null, usage: { ...usage, output_tokens: 1 } } }],
      ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }],
      ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'ok' } }],
      ['content_block_stop', { type: 'content_block_stop', index: 0 }],
      ['message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 9 } }],
      ['message_stop', { type: 'message_stop' }],
    ]
      .map(([event, data]) => `event: ${event as string}\ndata: ${JSON.stringify(data)}\n\n`)
      .join('');
    const s = await stand([
      { status: 200, body: message },
      { status: 200, body: events, headers: { 'content-type': 'text/event-stream' } },
    ]);
    const client = s.anthropic();
    const params = { model: 'claude-asked', max_tokens: 10, messages: [{ role: 'user' as const, content: 'hi' }] };
    await client.messages.create(params);
    const streamed = await client.messages.stream(params).finalMessage();
    expect(streamed.content).toEqual([expect.objectContaining({ text: 'ok' })]);
    expect(s.usages).toEqual([
      { model: 'claude-answering', inputTokens: 3210, outputTokens: 7 },
      { model: 'claude-answering', inputTokens: 3210, outputTokens: 9 },
    ]);
  });

  it('keeps the query string of an Anthropic request (the beta endpoint) and forwards the model list', async () => {
    const s = await stand([{ text: 'beta' }]);
    const client = s.anthropic();
    // What Claude Code sends: the beta endpoint is the same path with ?beta=true.
    const response = await fetch(`${s.url}/anthropic/v1/messages?beta=true`, {
      method: 'POST',
      headers: { 'x-api-key': s.grant.token, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ content: [{ type: 'text', text: 'beta' }] });
    expect(s.llm.requests[0]?.url).toBe('/v1/messages?beta=true');

    const anthropicModels = await client.models.list();
    expect(anthropicModels.data.map((model) => model.id)).toEqual(['scripted-model', 'scripted-model-large']);
    const openaiModels = await s.openai().models.list();
    expect(openaiModels.data.map((model) => model.id)).toEqual(['scripted-model', 'scripted-model-large']);
  });

  it('Chat Completions, JSON and streamed: delivers text and tool calls, asks for streamed usage, counts it', async () => {
    const s = await stand([reply, reply, reply]);
    const client = s.openai({ headers: { cookie: 'session=browser-cookie' } });
    const params = { model: 'gpt-test', tools: TOOLS_CHAT, messages: [{ role: 'user' as const, content: 'plan it' }] };

    const completion = await client.chat.completions.create(params);
    expect(completion.choices[0]?.message.content).toBe(reply.text);
    expect(completion.choices[0]?.message.tool_calls?.[0]).toMatchObject({
      type: 'function',
      function: { name: 'run', arguments: JSON.stringify(reply.toolCalls[0]?.arguments) },
    });

    const stream = await client.chat.completions.create({ ...params, stream: true });
    let text = '';
    const calls: Array<{ name: string; arguments: string }> = [];
    let finish: string | null = null;
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      if (!choice) continue;
      text += choice.delta.content ?? '';
      for (const call of choice.delta.tool_calls ?? []) {
        calls[call.index] ??= { name: '', arguments: '' };
        const target = calls[call.index]!;
        target.name += call.function?.name ?? '';
        target.arguments += call.function?.arguments ?? '';
      }
      finish = choice.finish_reason ?? finish;
    }
    expect(text).toBe(reply.text);
    expect(calls).toEqual([{ name: 'run', arguments: JSON.stringify(reply.toolCalls[0]?.arguments) }]);
    expect(finish).toBe('tool_calls');

    // The SDK's own accumulator (what agents built on it use) reads the same stream into a message.
    const accumulated = await client.chat.completions.stream(params).finalChatCompletion();
    expect(accumulated.choices[0]?.message).toMatchObject({
      content: reply.text,
      tool_calls: [{ type: 'function', function: { name: 'run', arguments: JSON.stringify(reply.toolCalls[0]?.arguments) } }],
    });

    expect(s.llm.requests[1]?.body.stream_options).toEqual({ include_usage: true });
    for (const request of s.llm.requests) {
      expect(request.headers.authorization).toBe(`Bearer ${OPENAI_KEY}`);
      expect(request.headers.cookie).toBeUndefined();
      expect(headerText(request.headers)).not.toContain(s.grant.token);
    }
    expect(s.usages).toEqual([
      { model: 'gpt-test', inputTokens: 321, outputTokens: 45 },
      { model: 'gpt-test', inputTokens: 321, outputTokens: 45 },
      { model: 'gpt-test', inputTokens: 321, outputTokens: 45 },
    ]);
  });

  it('Responses, JSON and streamed: delivers text and function calls in the wire format, counts usage', async () => {
    const s = await stand([reply, reply, reply]);
    const client = s.openai();
    const params = { model: 'gpt-resp', tools: TOOLS_RESPONSES, input: 'plan it' };

    const response = await client.responses.create(params);
    expect(response.output_text).toBe(reply.text);
    expect(response.output.find((item) => item.type === 'function_call')).toMatchObject({
      type: 'function_call',
      name: 'run',
      arguments: JSON.stringify(reply.toolCalls[0]?.arguments),
      call_id: expect.stringMatching(/^call_/),
    });
    expect(response.usage).toMatchObject({ input_tokens: 321, output_tokens: 45, total_tokens: 366 });

    const stream = await client.responses.create({ ...params, stream: true });
    const types: string[] = [];
    let text = '';
    let argumentsText = '';
    let completed: OpenAI.Responses.Response | undefined;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'response.output_text.delta') text += event.delta;
      if (event.type === 'response.function_call_arguments.delta') argumentsText += event.delta;
      if (event.type === 'response.completed') completed = event.response;
    }
    expect(text).toBe(reply.text);
    expect(argumentsText).toBe(JSON.stringify(reply.toolCalls[0]?.arguments));
    expect(types[0]).toBe('response.created');
    expect(types.at(-1)).toBe('response.completed');
    for (const type of [
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.done',
      'response.content_part.done',
      'response.function_call_arguments.done',
      'response.output_item.done',
    ]) {
      expect(types).toContain(type);
    }
    expect(completed?.output.map((item) => item.type)).toEqual(['message', 'function_call']);

    // The SDK's stream helper checks that every event fits the items and parts announced before it.
    const final = await client.responses.stream(params).finalResponse();
    expect(final.output_text).toBe(reply.text);
    expect(final.output[1]).toMatchObject({ type: 'function_call', arguments: JSON.stringify(reply.toolCalls[0]?.arguments) });

    for (const request of s.llm.requests) {
      expect(request.format).toBe('responses');
      expect(request.headers.authorization).toBe(`Bearer ${OPENAI_KEY}`);
    }
    expect(s.usages).toEqual([
      { model: 'gpt-resp', inputTokens: 321, outputTokens: 45 },
      { model: 'gpt-resp', inputTokens: 321, outputTokens: 45 },
      { model: 'gpt-resp', inputTokens: 321, outputTokens: 45 },
    ]);
  });

  it('streams the answer as it arrives: the first event reaches the client while the provider is still writing', async () => {
    let finish: (() => void) | undefined;
    const provider = createHttpServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/event-stream', 'request-id': 'req_streaming' });
      const start = {
        type: 'message_start',
        message: {
          id: 'msg_s',
          type: 'message',
          role: 'assistant',
          model: 'claude-slow',
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens: 5, output_tokens: 1 },
        },
      };
      res.write(`event: message_start\ndata: ${JSON.stringify(start)}\n\n`);
      finish = () => {
        const events = [
          { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
          { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'late' } },
          { type: 'content_block_stop', index: 0 },
          { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 3 } },
          { type: 'message_stop' },
        ];
        res.end(events.map((event) => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`).join(''));
      };
    });
    const providerUrl = await listenOnLoopback(provider);
    cleanups.push(() => new Promise<void>((resolve) => provider.close(() => resolve())));
    const s = await stand([], { anthropic: { apiKey: ANTHROPIC_KEY, baseUrl: providerUrl } });

    const stream = await s
      .anthropic()
      .messages.create({ model: 'claude-slow', max_tokens: 10, stream: true, messages: [{ role: 'user', content: 'hi' }] });
    const events = stream[Symbol.asyncIterator]();
    const first = await Promise.race([
      events.next(),
      new Promise((resolve) => setTimeout(() => resolve('no event within 5 s: the gateway held the stream back'), 5000)),
    ]);
    expect(first).toMatchObject({ value: { type: 'message_start' } });
    expect(s.usages).toEqual([]);
    finish?.();
    let text = '';
    for (let next = await events.next(); !next.done; next = await events.next()) {
      if (next.value.type === 'content_block_delta' && next.value.delta.type === 'text_delta') text += next.value.delta.text;
    }
    expect(text).toBe('late');
    await waitUntil('the usage of the finished stream', () => s.usages.length === 1, { timeoutMs: 5000 });
    expect(s.usages).toEqual([{ model: 'claude-slow', inputTokens: 5, outputTokens: 3 }]);
  });

  it('passes an upstream error through with its status and does not count usage', async () => {
    const s = await stand([{ status: 400, body: { type: 'error', error: { type: 'invalid_request_error', message: 'max_tokens: too large' } } }]);
    const error = await s
      .anthropic()
      .messages.create({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Anthropic.BadRequestError);
    expect((error as Error).message).toContain('max_tokens: too large');
    expect(s.usages).toEqual([]);
  });
});

describe('LLM gateway: who may use it', () => {
  it('refuses a wrong token, another session\'s token and a revoked token with 401, forwarding nothing', async () => {
    const s = await stand([{ text: 'only for the right token' }]);
    const ask = (client: Anthropic) =>
      client.messages.create({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });

    const wrong = await ask(s.anthropic({ token: 'not-the-token' })).catch((caught: unknown) => caught);
    expect(wrong).toBeInstanceOf(Anthropic.AuthenticationError);

    // session-a's token on a connection that came through session-b's tunnel.
    const otherTunnel = await s.tunnel('session-b');
    const crossed = await ask(s.anthropic({ url: otherTunnel })).catch((caught: unknown) => caught);
    expect(crossed).toBeInstanceOf(Anthropic.AuthenticationError);
    const crossedOpenAI = await s
      .openai({ url: otherTunnel })
      .chat.completions.create({ model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] })
      .catch((caught: unknown) => caught);
    expect(crossedOpenAI).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(s.llm.requests).toHaveLength(0);

    // The right token on its own tunnel gets through, until the grant is revoked.
    expect((await ask(s.anthropic())).content).toEqual([expect.objectContaining({ text: 'only for the right token' })]);
    s.grant.revoke();
    const revoked = await ask(s.anthropic()).catch((caught: unknown) => caught);
    expect(revoked).toBeInstanceOf(Anthropic.AuthenticationError);
    expect(s.llm.requests).toHaveLength(1);
  });

  it('revoking during a hanging upstream request cuts the client and the upstream request', async () => {
    const s = await stand([{ hang: true }]);
    const pending = s
      .anthropic()
      .messages.create({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] })
      .catch((caught: unknown) => caught);
    await waitUntil('the upstream request', () => s.llm.requests.length === 1, { timeoutMs: 10_000 });
    s.grant.revoke();
    const error = await Promise.race([
      pending,
      new Promise((resolve) => setTimeout(() => resolve('the client was still waiting 10 s after the revoke'), 10_000)),
    ]);
    expect(error).toBeInstanceOf(Anthropic.APIConnectionError);
    await waitUntil('the upstream request to be closed', () => s.llm.requests[0]?.fate === 'closed-by-client', {
      timeoutMs: 10_000,
    });
    expect(s.usages).toEqual([]);
  });

  it('refuses with 403 in the provider\'s shape when refusal() gives a reason, and tells onRefused', async () => {
    const s = await stand([{ text: 'never sent' }]);
    s.refuse('the session has spent its budget of $1.00');
    const anthropicError = await s
      .anthropic()
      .messages.create({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] })
      .catch((caught: unknown) => caught);
    expect(anthropicError).toBeInstanceOf(Anthropic.PermissionDeniedError);
    expect((anthropicError as AnthropicAPIError).message).toContain('spent its budget');
    expect((anthropicError as AnthropicAPIError).error).toMatchObject({ type: 'error', error: { type: 'permission_error' } });

    const openaiError = await s
      .openai()
      .responses.create({ model: 'gpt-test', input: 'hi' })
      .catch((caught: unknown) => caught);
    expect(openaiError).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect((openaiError as OpenAIAPIError).message).toContain('spent its budget');

    expect(s.refused).toEqual(['the session has spent its budget of $1.00', 'the session has spent its budget of $1.00']);
    expect(s.llm.requests).toHaveLength(0);
  });

  it('refuses a model outside TELECODER_ALLOWED_MODELS with 403 naming it, and lets a listed one through', async () => {
    const s = await stand([{ text: 'allowed' }], { allowedModels: ['claude-allowed'] });
    const client = s.anthropic();
    const error = await client.messages
      .create({ model: 'claude-expensive', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Anthropic.PermissionDeniedError);
    expect((error as Error).message).toContain('claude-expensive');
    expect((error as Error).message).toContain('TELECODER_ALLOWED_MODELS');
    expect(s.llm.requests).toHaveLength(0);

    const message = await client.messages.create({ model: 'claude-allowed', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
    expect(message.content).toEqual([expect.objectContaining({ text: 'allowed' })]);
  });
});

/** Two Duplex streams wired to each other, like the Docker tunnel's stream: no socket underneath. */
function duplexPair(): [Duplex, Duplex] {
  const ends: Duplex[] = [];
  const end = (other: () => Duplex) =>
    new Duplex({
      read() {},
      write(chunk, _encoding, callback) {
        other().push(chunk);
        callback();
      },
      final(callback) {
        other().push(null);
        callback();
      },
    });
  ends.push(end(() => ends[1]!), end(() => ends[0]!));
  return [ends[0]!, ends[1]!];
}

describe('LLM gateway: a tunnel stream', () => {
  it('serves a connection that is a plain Duplex stream, as the sandbox tunnel hands it over', async () => {
    const s = await stand([{ text: 'through the tunnel', usage: { inputTokens: 3, outputTokens: 4 } }]);
    const [gatewaySide, sandboxSide] = duplexPair();
    s.gateway.accept(gatewaySide, 'session-a');
    const body = JSON.stringify({ model: 'claude-tunnel', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
    const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = httpRequest(
        {
          createConnection: () => sandboxSide as never,
          method: 'POST',
          path: '/anthropic/v1/messages',
          headers: { 'x-api-key': s.grant.token, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text)).toMatchObject({ content: [{ type: 'text', text: 'through the tunnel' }] });
    expect(s.usages).toEqual([{ model: 'claude-tunnel', inputTokens: 3, outputTokens: 4 }]);
    gatewaySide.destroy();
    sandboxSide.destroy();
  });
});

describe('LLM gateway: limits and failures', () => {
  it('refuses a body over 32 MiB with 413', async () => {
    const s = await stand([{ text: 'too big to get here' }]);
    const body = JSON.stringify({ model: 'gpt-test', messages: [{ role: 'user', content: 'x'.repeat(33 * 1024 * 1024) }] });
    const response = await fetch(`${s.url}/openai/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.grant.token}`, 'content-type': 'application/json' },
      body,
    });
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ error: { message: expect.stringContaining('32 MiB') } });
    expect(s.llm.requests).toHaveLength(0);
  });

  it('answers 400 to a body that is not JSON, 404 naming the routes, 503 naming the missing key', async () => {
    const s = await stand([], { anthropic: undefined });
    const headers = { authorization: `Bearer ${s.grant.token}`, 'content-type': 'application/json' };
    const notJson = await fetch(`${s.url}/openai/v1/chat/completions`, { method: 'POST', headers, body: 'model=gpt' });
    expect(notJson.status).toBe(400);
    const unknown = await fetch(`${s.url}/openai/v1/embeddings`, { method: 'POST', headers, body: '{}' });
    expect(unknown.status).toBe(404);
    expect(JSON.stringify(await unknown.json())).toContain('POST /openai/v1/responses');
    const noKey = await s
      .anthropic()
      .messages.create({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] })
      .catch((caught: unknown) => caught);
    expect(noKey).toBeInstanceOf(Anthropic.InternalServerError);
    expect((noKey as AnthropicAPIError).status).toBe(503);
    expect((noKey as Error).message).toContain('ANTHROPIC_API_KEY');
  });

  it('answers 502 when the provider cannot be reached, without the key', async () => {
    // A port that was just free: nothing listens there.
    const closed = createHttpServer();
    const deadUrl = await listenOnLoopback(closed);
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const s = await stand([], { anthropic: { apiKey: ANTHROPIC_KEY, baseUrl: deadUrl } });
    const response = await fetch(`${s.url}/anthropic/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': s.grant.token, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(response.status).toBe(502);
    const text = await response.text();
    expect(JSON.parse(text)).toMatchObject({ type: 'error', error: { message: expect.stringContaining('could not reach anthropic') } });
    expect(text).not.toContain(ANTHROPIC_KEY);
  });

  it('logs one info line per request with session, route, model, status and tokens, and never a prompt or a key', async () => {
    const canary = `CANARY-PROMPT-${randomBytes(8).toString('hex')}`;
    const answer = `CANARY-ANSWER-${randomBytes(8).toString('hex')}`;
    const s = await stand([
      { text: answer, usage: { inputTokens: 11, outputTokens: 22 } },
      { text: answer, usage: { inputTokens: 11, outputTokens: 22 } },
      { status: 500, body: { error: { message: `upstream echoed ${canary}` } }, headers: { 'x-should-retry': 'false' } },
    ]);
    await s.anthropic().messages.create({ model: 'claude-log', max_tokens: 10, messages: [{ role: 'user', content: canary }] });
    const stream = await s
      .openai()
      .chat.completions.create({ model: 'gpt-log', stream: true, messages: [{ role: 'user', content: canary }] });
    for await (const chunk of stream) void chunk;
    await s
      .openai()
      .responses.create({ model: 'gpt-log', input: canary })
      .catch(() => undefined);
    await fetch(`${s.url}/openai/v1/responses`, {
      method: 'POST',
      headers: { authorization: 'Bearer wrong', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-log', input: canary }),
    });

    const lines = s.logLines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const requestLines = lines.filter((line) => line.msg === 'LLM gateway request');
    expect(requestLines).toHaveLength(4);
    expect(requestLines[0]).toMatchObject({
      level: 30,
      sessionId: 'session-a',
      route: 'anthropic messages',
      model: 'claude-log',
      status: 200,
      inputTokens: 11,
      outputTokens: 22,
      ms: expect.any(Number),
    });
    expect(requestLines[1]).toMatchObject({ route: 'openai chat completions', status: 200, inputTokens: 11, outputTokens: 22 });
    expect(requestLines[2]).toMatchObject({ route: 'openai responses', status: 500 });
    expect(requestLines[3]).toMatchObject({ sessionId: 'session-a', status: 401 });
    const all = s.logLines.join('\n');
    expect(all).not.toContain(canary);
    expect(all).not.toContain(answer);
    expect(all).not.toContain(ANTHROPIC_KEY);
    expect(all).not.toContain(OPENAI_KEY);
    expect(all).not.toContain(s.grant.token);
  });
});
