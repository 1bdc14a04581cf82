import { afterEach, describe, expect, it } from 'vitest';
import { AnthropicClient } from '../../src/llm/anthropic-client.js';
import type { ChatMessage, LLMClient, ToolSpec } from '../../src/llm/client.js';
import { createLLMClient } from '../../src/llm/create-llm-client.js';
import { OpenAIClient } from '../../src/llm/openai-client.js';
import type { Config } from '../../src/config/config.js';
import { startScriptedLLM, type ScriptedLLM, type ScriptStep } from '../helpers/scripted-llm-server.js';

const READ_FILE: ToolSpec = {
  name: 'read_file',
  description: 'Reads a file',
  parameters: {
    type: 'object',
    properties: { path: { type: 'string' } },
    required: ['path'],
    additionalProperties: false,
  },
};

interface Provider {
  name: 'anthropic' | 'openai';
  make(server: ScriptedLLM, options?: { maxRetries?: number; timeoutMs?: number }): LLMClient;
}

const providers: Provider[] = [
  {
    name: 'anthropic',
    make: (server, options = {}) =>
      new AnthropicClient({
        apiKey: 'test-anthropic-key',
        baseURL: server.anthropicBaseUrl,
        model: 'claude-test',
        maxRetries: options.maxRetries ?? 2,
        timeoutMs: options.timeoutMs ?? 10_000,
      }),
  },
  {
    name: 'openai',
    make: (server, options = {}) =>
      new OpenAIClient({
        apiKey: 'test-openai-key',
        baseURL: server.openaiBaseUrl,
        model: 'gpt-test',
        maxRetries: options.maxRetries ?? 2,
        timeoutMs: options.timeoutMs ?? 10_000,
      }),
  },
];

let server: ScriptedLLM | undefined;

async function start(script: ScriptStep[]): Promise<ScriptedLLM> {
  server = await startScriptedLLM(script);
  return server;
}

afterEach(async () => {
  await server?.close();
  server = undefined;
});

const ask = (text: string): ChatMessage[] => [{ role: 'user', content: text }];

describe.each(providers)('$name client against the scripted server', (provider) => {
  it('returns a text reply with usage and sends system, model and max_tokens on the wire', async () => {
    const llm = await start([{ text: 'Hello there' }]);
    const client = provider.make(llm);
    const completion = await client.complete({ system: 'Be brief.', messages: ask('hi'), tools: [], maxTokens: 321 });

    expect(completion).toEqual({
      text: 'Hello there',
      toolCalls: [],
      stopReason: 'end',
      usage: { inputTokens: 100, outputTokens: 20 },
      model: provider.name === 'anthropic' ? 'claude-test' : 'gpt-test',
    });
    expect(llm.requests).toHaveLength(1);
    const [request] = llm.requests;
    expect(request?.format).toBe(provider.name);
    expect(request?.body.model).toBe(client.model);
    expect(request?.body.max_tokens).toBe(321);
    if (provider.name === 'anthropic') {
      expect(request?.body.system).toBe('Be brief.');
      expect(request?.body.messages).toEqual([{ role: 'user', content: [{ type: 'text', text: 'hi' }] }]);
      // This SDK version sends the key as a bearer token; older ones used x-api-key.
      const sentKey = request?.headers['x-api-key'] ?? request?.headers.authorization;
      expect(sentKey).toMatch(/^(Bearer )?test-anthropic-key$/);
    } else {
      expect(request?.body.messages).toEqual([
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'hi' },
      ]);
      expect(request?.body.max_completion_tokens).toBeUndefined();
      expect(request?.headers.authorization).toBe('Bearer test-openai-key');
    }
  });

  it('round-trips a tool call: schema out, call back, result out in the provider format', async () => {
    const llm = await start([
      { text: 'Let me look.', toolCalls: [{ name: 'read_file', arguments: { path: 'src/a.ts' } }] },
      { text: 'It exports a.' },
    ]);
    const client = provider.make(llm);
    const first = await client.complete({
      system: 'sys',
      messages: ask('what is in src/a.ts?'),
      tools: [READ_FILE],
      maxTokens: 1000,
    });
    expect(first.stopReason).toBe('tool_use');
    expect(first.text).toBe('Let me look.');
    expect(first.toolCalls).toHaveLength(1);
    const call = first.toolCalls[0]!;
    expect(call.name).toBe('read_file');
    expect(JSON.parse(call.arguments)).toEqual({ path: 'src/a.ts' });
    expect(call.id).toMatch(provider.name === 'anthropic' ? /^toolu_/ : /^call_/);

    const firstBody = llm.requests[0]?.body;
    if (provider.name === 'anthropic') {
      expect(firstBody.tools).toEqual([
        { name: 'read_file', description: 'Reads a file', input_schema: READ_FILE.parameters },
      ]);
    } else {
      expect(firstBody.tools).toEqual([
        {
          type: 'function',
          function: { name: 'read_file', description: 'Reads a file', parameters: READ_FILE.parameters },
        },
      ]);
    }

    const second = await client.complete({
      system: 'sys',
      messages: [
        ...ask('what is in src/a.ts?'),
        { role: 'assistant', text: first.text, toolCalls: first.toolCalls },
        { role: 'tool', results: [{ callId: call.id, content: 'export const a = 1;', isError: false }] },
        { role: 'assistant', text: '', toolCalls: [{ ...call, id: 'second-call' }] },
        { role: 'tool', results: [{ callId: 'second-call', content: 'no such file', isError: true }] },
      ],
      tools: [READ_FILE],
      maxTokens: 1000,
    });
    expect(second.text).toBe('It exports a.');
    expect(second.stopReason).toBe('end');

    const messages = llm.requests[1]?.body.messages;
    if (provider.name === 'anthropic') {
      expect(messages).toEqual([
        { role: 'user', content: [{ type: 'text', text: 'what is in src/a.ts?' }] },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Let me look.' },
            { type: 'tool_use', id: call.id, name: 'read_file', input: { path: 'src/a.ts' } },
          ],
        },
        {
          role: 'user',
          content: [{ type: 'tool_result', tool_use_id: call.id, content: 'export const a = 1;', is_error: false }],
        },
        {
          role: 'assistant',
          content: [{ type: 'tool_use', id: 'second-call', name: 'read_file', input: { path: 'src/a.ts' } }],
        },
        {
          role: 'user',
          content: [{ type: 'tool_result', tool_use_id: 'second-call', content: 'no such file', is_error: true }],
        },
      ]);
    } else {
      expect(messages).toEqual([
        { role: 'system', content: 'sys' },
        { role: 'user', content: 'what is in src/a.ts?' },
        {
          role: 'assistant',
          content: 'Let me look.',
          tool_calls: [{ id: call.id, type: 'function', function: { name: 'read_file', arguments: call.arguments } }],
        },
        { role: 'tool', tool_call_id: call.id, content: 'export const a = 1;' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'second-call', type: 'function', function: { name: 'read_file', arguments: call.arguments } },
          ],
        },
        { role: 'tool', tool_call_id: 'second-call', content: 'Error: no such file' },
      ]);
    }
  });

  it('never crashes on malformed tool arguments, in either direction', async () => {
    const llm = await start([
      { toolCalls: [{ name: 'read_file', arguments: '{"path": "a.ts"' }] },
      { text: 'ok' },
    ]);
    const client = provider.make(llm);
    const first = await client.complete({ system: 's', messages: ask('go'), tools: [READ_FILE], maxTokens: 100 });
    const call = first.toolCalls[0]!;
    if (provider.name === 'openai') {
      // The raw text must reach the agent untouched so it can tell the model what was wrong.
      expect(call.arguments).toBe('{"path": "a.ts"');
    } else {
      // Anthropic's input is always JSON; a non-object input is what "malformed" looks like there.
      expect(typeof JSON.parse(call.arguments)).toBe('string');
    }
    await client.complete({
      system: 's',
      messages: [
        ...ask('go'),
        { role: 'assistant', text: '', toolCalls: [{ id: 'c1', name: 'read_file', arguments: '{"path": "a.ts"' }] },
        { role: 'tool', results: [{ callId: 'c1', content: 'arguments are not valid JSON', isError: true }] },
      ],
      tools: [READ_FILE],
      maxTokens: 100,
    });
    const sent = llm.requests[1]?.body.messages;
    if (provider.name === 'anthropic') {
      expect(sent[1].content).toEqual([{ type: 'tool_use', id: 'c1', name: 'read_file', input: {} }]);
      expect(sent[2].content[0]).toMatchObject({ tool_use_id: 'c1', is_error: true });
    } else {
      expect(sent[2].tool_calls[0].function.arguments).toBe('{"path": "a.ts"');
    }
  });

  it('maps usage numbers and max_tokens stops', async () => {
    const llm = await start([
      { text: 'partial', stopReason: 'max_tokens', usage: { inputTokens: 1234, outputTokens: 56 } },
      { text: 'no usage', usage: null },
    ]);
    const client = provider.make(llm);
    const cut = await client.complete({ system: 's', messages: ask('go'), tools: [], maxTokens: 56 });
    expect(cut.usage).toEqual({ inputTokens: 1234, outputTokens: 56 });
    expect(cut.stopReason).toBe('max_tokens');
    if (provider.name === 'openai') {
      // Some OpenAI-compatible servers leave usage out; that counts as zero, not a crash.
      const bare = await client.complete({ system: 's', messages: ask('go'), tools: [], maxTokens: 56 });
      expect(bare.usage).toEqual({ inputTokens: 0, outputTokens: 0 });
    }
  });

  it('retries a 429 after the retry-after-ms the server asked for, then succeeds', async () => {
    const llm = await start([{ status: 429, headers: { 'retry-after-ms': '10' } }, { text: 'finally' }]);
    const client = provider.make(llm, { maxRetries: 3 });
    const started = Date.now();
    const completion = await client.complete({ system: 's', messages: ask('go'), tools: [], maxTokens: 10 });
    expect(completion.text).toBe('finally');
    expect(llm.requests).toHaveLength(2);
    // The SDKs' own backoff starts at ≥375 ms; a much faster retry proves the header was honoured.
    expect(Date.now() - started).toBeLessThan(350);
  });

  it('gives up on a repeated 500 with the provider, the status and the server message', async () => {
    const fault = { status: 500, headers: { 'retry-after-ms': '5' } };
    const body =
      provider.name === 'anthropic'
        ? { type: 'error', error: { type: 'api_error', message: 'internal error' } }
        : { error: { message: 'internal error', type: 'server_error' } };
    const llm = await start([
      { ...fault, body },
      { ...fault, body },
      { ...fault, body },
    ]);
    const client = provider.make(llm, { maxRetries: 2 });
    await expect(client.complete({ system: 's', messages: ask('go'), tools: [], maxTokens: 10 })).rejects.toThrow(
      `LLM request failed: ${provider.name} answered 500 (internal error) after 2 retries`,
    );
    expect(llm.requests).toHaveLength(3);
  });

  it('does not retry a 401 and says which key to check', async () => {
    const llm = await start([{ status: 401 }]);
    const client = provider.make(llm, { maxRetries: 3 });
    const key = provider.name === 'anthropic' ? 'ANTHROPIC_API_KEY' : 'OPENAI_API_KEY';
    await expect(client.complete({ system: 's', messages: ask('go'), tools: [], maxTokens: 10 })).rejects.toThrow(
      new RegExp(`answered 401 \\(scripted fault 401\\); check ${key}`),
    );
    expect(llm.requests).toHaveLength(1);
  });

  it('stops promptly when the signal aborts a request the server never answers', async () => {
    const llm = await start([{ hang: true }]);
    const client = provider.make(llm, { maxRetries: 3 });
    const controller = new AbortController();
    setTimeout(() => controller.abort('stop'), 100);
    const started = Date.now();
    const error = await client
      .complete({ system: 's', messages: ask('go'), tools: [], maxTokens: 10, signal: controller.signal })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).name).toBe('AbortError');
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(llm.requests).toHaveLength(1);
  });

  it('fails with the timeout when the server is too slow', async () => {
    const llm = await start([{ text: 'too late', delayMs: 3_000 }]);
    const client = provider.make(llm, { maxRetries: 0, timeoutMs: 200 });
    await expect(client.complete({ system: 's', messages: ask('go'), tools: [], maxTokens: 10 })).rejects.toThrow(
      `LLM request failed: ${provider.name} did not answer within 0s`,
    );
  });

  it('uses a per-request model override', async () => {
    const llm = await start([{ text: 'ok' }]);
    const client = provider.make(llm);
    const completion = await client.complete({
      system: 's',
      messages: ask('go'),
      tools: [],
      maxTokens: 10,
      model: 'other-model',
    });
    expect(llm.requests[0]?.body.model).toBe('other-model');
    expect(completion.model).toBe('other-model');
  });
});

describe('scripted LLM server', () => {
  it('answers a clear 500 once the script has run out, without inviting retries', async () => {
    const llm = await start([{ text: 'only one' }]);
    const client = providers[1]!.make(llm, { maxRetries: 3 });
    await client.complete({ system: 's', messages: ask('go'), tools: [], maxTokens: 10 });
    await expect(client.complete({ system: 's', messages: ask('go'), tools: [], maxTokens: 10 })).rejects.toThrow(
      /answered 500 \(scripted LLM: the script has no step for request #2 \(it has 1 steps\)\)/,
    );
    expect(llm.requests).toHaveLength(2);
  });

  it('runs dynamic steps with the request they answer', async () => {
    const llm = await start([(request) => ({ text: `you said ${request.body.messages.at(-1).content}` })]);
    const client = providers[1]!.make(llm);
    const completion = await client.complete({ system: 's', messages: ask('ping'), tools: [], maxTokens: 10 });
    expect(completion.text).toBe('you said ping');
  });
});

describe('createLLMClient', () => {
  const base: Config['llm'] = {
    provider: undefined,
    anthropicApiKey: undefined,
    anthropicBaseUrl: undefined,
    openaiApiKey: undefined,
    openaiBaseUrl: undefined,
    model: undefined,
    plannerModel: undefined,
    allowedModels: [],
    maxRetries: 0,
    requestTimeoutMs: 10_000,
  };

  it('prefers Anthropic when its key is set, with the default model', () => {
    const client = createLLMClient({ ...base, anthropicApiKey: 'a', openaiApiKey: 'o' });
    expect(client).toBeInstanceOf(AnthropicClient);
    expect(client.model).toBe('claude-sonnet-4-6');
  });

  it('falls back to OpenAI, and honours an explicit provider and model override', () => {
    const openai = createLLMClient({ ...base, openaiApiKey: 'o' });
    expect(openai).toBeInstanceOf(OpenAIClient);
    expect(openai.model).toBe('gpt-4.1');
    const explicit = createLLMClient(
      { ...base, provider: 'openai', anthropicApiKey: 'a', openaiApiKey: 'o', model: 'configured' },
      { model: 'session-model' },
    );
    expect(explicit.provider).toBe('openai');
    expect(explicit.model).toBe('session-model');
  });

  it('says which keys to set when none is', () => {
    expect(() => createLLMClient(base)).toThrow(/set ANTHROPIC_API_KEY .* or OPENAI_API_KEY/);
    expect(() => createLLMClient({ ...base, provider: 'anthropic', openaiApiKey: 'o' })).toThrow(
      /ANTHROPIC_API_KEY is not set/,
    );
  });

  it('talks to the configured base URL', async () => {
    const llm = await start([{ text: 'from anthropic' }, { text: 'from openai' }]);
    const anthropic = createLLMClient({ ...base, anthropicApiKey: 'a', anthropicBaseUrl: llm.anthropicBaseUrl });
    const openai = createLLMClient({ ...base, provider: 'openai', openaiBaseUrl: llm.openaiBaseUrl });
    expect((await anthropic.complete({ system: 's', messages: ask('x'), tools: [], maxTokens: 5 })).text).toBe(
      'from anthropic',
    );
    expect((await openai.complete({ system: 's', messages: ask('x'), tools: [], maxTokens: 5 })).text).toBe(
      'from openai',
    );
    expect(llm.requests.map((r) => r.format)).toEqual(['anthropic', 'openai']);
  });
});
