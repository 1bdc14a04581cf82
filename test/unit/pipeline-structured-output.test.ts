import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { AnthropicClient } from '../../src/llm/anthropic-client.js';
import type { LLMClient } from '../../src/llm/client.js';
import { OpenAIClient } from '../../src/llm/openai-client.js';
import {
  decompositionSchema,
  PlanSchema,
  ReviewVerdictSchema,
  STRUCTURED_TOOLS,
  VerifyVerdictSchema,
} from '../../src/pipeline/schemas.js';
import { askStructured, StructuredOutputError, toolParameters } from '../../src/pipeline/structured-output.js';
import { startScriptedLLM, type RecordedRequest, type ScriptedLLM, type ScriptStep } from '../helpers/scripted-llm-server.js';

interface Provider {
  name: 'anthropic' | 'openai';
  make(server: ScriptedLLM): LLMClient;
}

const providers: Provider[] = [
  {
    name: 'anthropic',
    make: (server) =>
      new AnthropicClient({
        apiKey: 'k',
        baseURL: server.anthropicBaseUrl,
        model: 'claude-test',
        maxRetries: 0,
        timeoutMs: 10_000,
      }),
  },
  {
    name: 'openai',
    make: (server) =>
      new OpenAIClient({ apiKey: 'k', baseURL: server.openaiBaseUrl, model: 'gpt-test', maxRetries: 0, timeoutMs: 10_000 }),
  },
];

let server: ScriptedLLM | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(script: ScriptStep[]): Promise<ScriptedLLM> {
  server = await startScriptedLLM(script);
  return server;
}

const decomposition = decompositionSchema(3);
const { toolName, toolDescription } = STRUCTURED_TOOLS.decompose;
const validSteps = {
  steps: [
    { title: 'Add the route', description: 'Add GET /health to the router.' },
    { title: 'Test it', description: 'Add a test for the route.' },
  ],
};

function ask(llm: LLMClient, extra: Partial<Parameters<typeof askStructured>[0]> = {}) {
  return askStructured({
    llm,
    system: 'You split tasks.',
    prompt: 'Split: add a health endpoint',
    schema: decomposition,
    toolName,
    toolDescription,
    ...extra,
  });
}

/** The tools a request offered, as {name, description, schema}, in either wire format. */
function sentTools(request: RecordedRequest): { name: string; description: string; schema: unknown }[] {
  return request.body.tools.map((tool: any) =>
    request.format === 'anthropic'
      ? { name: tool.name, description: tool.description, schema: tool.input_schema }
      : { name: tool.function.name, description: tool.function.description, schema: tool.function.parameters },
  );
}

function systemText(request: RecordedRequest): string {
  return request.format === 'anthropic' ? request.body.system : request.body.messages[0].content;
}

/** The text sent back to the model about its previous answer (tool result or user message). */
function feedbackText(request: RecordedRequest): string {
  const messages = request.body.messages;
  const last = messages.at(-1);
  if (request.format === 'anthropic') {
    return last.content.map((block: any) => (block.type === 'text' ? block.text : block.content)).join('\n');
  }
  return last.content;
}

describe.each(providers)('askStructured over $name', (provider) => {
  it('accepts a valid tool call, offering exactly one tool whose schema is the zod schema', async () => {
    const llm = await start([{ toolCalls: [{ name: toolName, arguments: validSteps }], usage: { inputTokens: 50, outputTokens: 7 } }]);
    const answer = await ask(provider.make(llm), { maxTokens: 777 });

    expect(answer).toEqual({ value: validSteps, usage: { inputTokens: 50, outputTokens: 7 }, attempts: 1 });
    expect(llm.requests).toHaveLength(1);
    const request = llm.requests[0]!;
    expect(request.body.max_tokens).toBe(777);
    const tools = sentTools(request);
    expect(tools).toHaveLength(1);
    expect(tools[0]).toEqual({ name: toolName, description: toolDescription, schema: toolParameters(decomposition) });
    // Spelled out too, so a broken toolParameters cannot make the comparison above pass.
    const schema = tools[0]!.schema as any;
    expect(schema.type).toBe('object');
    expect(schema.required).toEqual(['steps']);
    expect(schema.properties.steps).toMatchObject({ type: 'array', minItems: 1, maxItems: 3 });
    expect(schema.properties.steps.items.required).toEqual(['title', 'description']);
    expect(schema.$schema).toBeUndefined();
    expect(systemText(request)).toContain('You split tasks.');
    expect(systemText(request)).toContain(`calling the tool \`${toolName}\` exactly once`);
  });

  it('falls back to a JSON object in a ```json fence or bare in the text', async () => {
    const llm = await start([
      { text: `Here is my answer:\n\`\`\`json\n${JSON.stringify(validSteps, null, 2)}\n\`\`\`\nDone.` },
      { text: `Sure. ${JSON.stringify(validSteps)}` },
    ]);
    const client = provider.make(llm);
    expect((await ask(client)).value).toEqual(validSteps);
    const bare = await ask(client);
    expect(bare.value).toEqual(validSteps);
    expect(bare.attempts).toBe(1);
  });

  it('retries once with the model answer and the exact problems, then accepts the correction', async () => {
    const invalid = { steps: [{ title: '', description: 'x' }, { title: 'b' }] };
    const llm = await start([
      { text: 'Splitting.', toolCalls: [{ name: toolName, arguments: invalid }], usage: { inputTokens: 100, outputTokens: 30 } },
      { toolCalls: [{ name: toolName, arguments: validSteps }], usage: { inputTokens: 180, outputTokens: 25 } },
    ]);
    const answer = await ask(provider.make(llm));

    expect(answer.value).toEqual(validSteps);
    expect(answer.attempts).toBe(2);
    expect(answer.usage).toEqual({ inputTokens: 280, outputTokens: 55 });
    expect(llm.requests).toHaveLength(2);
    const retry = llm.requests[1]!;
    const messages = retry.body.messages;
    const feedback = feedbackText(retry);
    expect(feedback).toContain('steps[0].title: Too small: expected string to have >=1 characters');
    expect(feedback).toMatch(/steps\[1\]\.description: Invalid input: expected string, received undefined/);
    expect(feedback).toContain(`Call \`${toolName}\` again`);
    if (provider.name === 'anthropic') {
      // user prompt, assistant echo of the rejected call, the error result for that call
      expect(messages).toHaveLength(3);
      expect(messages[1].role).toBe('assistant');
      const echoed = messages[1].content.find((block: any) => block.type === 'tool_use');
      expect(echoed.input).toEqual(invalid);
      expect(messages[2].content[0]).toMatchObject({ type: 'tool_result', tool_use_id: echoed.id, is_error: true });
    } else {
      expect(messages).toHaveLength(4);
      expect(messages[2].role).toBe('assistant');
      expect(JSON.parse(messages[2].tool_calls[0].function.arguments)).toEqual(invalid);
      expect(messages[3]).toMatchObject({ role: 'tool', tool_call_id: messages[2].tool_calls[0].id });
      expect(messages[3].content).toMatch(/^Error: Your answer was not accepted/);
    }
    // The retry offers the same single tool.
    expect(sentTools(retry).map((tool) => tool.name)).toEqual([toolName]);
  });

  it('tells the model when its arguments are not a JSON object', async () => {
    const llm = await start([
      { toolCalls: [{ name: toolName, arguments: '{"steps": [' }] },
      { toolCalls: [{ name: toolName, arguments: validSteps }] },
    ]);
    const answer = await ask(provider.make(llm));
    expect(answer.attempts).toBe(2);
    // OpenAI passes the broken text through; Anthropic can only carry it as a JSON string.
    expect(feedbackText(llm.requests[1]!)).toMatch(
      provider.name === 'openai' ? /the answer is not valid JSON \(/ : /the answer must be a JSON object, but it is a string/,
    );
  });

  it('answers a plain-text reply with a user message and a reply calling another tool with a tool result', async () => {
    const llm = await start([
      { text: 'I think the task is simple.' },
      { toolCalls: [{ name: 'write_file', arguments: { path: 'x' } }] },
    ]);
    const error = await ask(provider.make(llm)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StructuredOutputError);
    const retry = llm.requests[1]!;
    expect(feedbackText(retry)).toContain(`the reply did not call \`${toolName}\` and contains no JSON object`);
    const lastRole = retry.body.messages.at(-1).role;
    expect(lastRole).toBe('user');
    expect((error as StructuredOutputError).problems).toEqual([
      `you called \`write_file\` instead of \`${toolName}\`, the only tool there is`,
    ]);
  });

  it('throws StructuredOutputError with the last raw answer, the problems and the summed usage after two bad answers', async () => {
    const second = { verdict: 'request_changes', summary: 'Needs work.', objections: [] };
    const llm = await start([
      { toolCalls: [{ name: 'submit_review', arguments: { verdict: 'maybe', summary: 'Hmm.', objections: [] } }], usage: { inputTokens: 10, outputTokens: 1 } },
      { toolCalls: [{ name: 'submit_review', arguments: second }], usage: { inputTokens: 20, outputTokens: 2 } },
    ]);
    const error = await askStructured({
      llm: provider.make(llm),
      system: 'Review.',
      prompt: 'the diff',
      schema: ReviewVerdictSchema,
      ...STRUCTURED_TOOLS.review,
    }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(StructuredOutputError);
    const failure = error as StructuredOutputError;
    expect(failure.attempts).toBe(2);
    expect(JSON.parse(failure.rawAnswer)).toEqual(second);
    expect(failure.problems).toEqual([
      'objections: verdict "request_changes" needs at least one concrete objection; approve if there is none',
    ]);
    expect(failure.usage).toEqual({ inputTokens: 30, outputTokens: 3 });
    expect(failure.message).toContain('no valid submit_review answer after 2 attempts');
    expect(feedbackText(llm.requests[1]!)).toContain('verdict: Invalid option: expected one of "approve"|"request_changes"');
    expect(llm.requests).toHaveLength(2);
  });

  it('passes the model override and lets a stop abort the request', async () => {
    const llm = await start([
      { toolCalls: [{ name: 'submit_plan', arguments: { files: ['a.ts'], approach: 'Edit a.', testing: 'npm test', risks: [] } }] },
      { hang: true },
    ]);
    const client = provider.make(llm);
    const plan = await askStructured({ llm: client, system: 's', prompt: 'p', schema: PlanSchema, ...STRUCTURED_TOOLS.plan, model: 'planner-model' });
    expect(plan.value.files).toEqual(['a.ts']);
    expect(llm.requests[0]!.body.model).toBe('planner-model');

    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const error = await askStructured({
      llm: client,
      system: 's',
      prompt: 'p',
      schema: VerifyVerdictSchema,
      ...STRUCTURED_TOOLS.verify,
      signal: controller.signal,
    }).catch((e: unknown) => e);
    expect(error).not.toBeInstanceOf(StructuredOutputError);
    expect((error as Error).name).toBe('AbortError');
  });
});

describe('structured answer schemas', () => {
  it('turns null optional fields into absent ones and trims text', () => {
    const review = ReviewVerdictSchema.parse({
      verdict: 'request_changes',
      summary: ' Bad. ',
      objections: [{ file: null, problem: 'It leaks.', suggestion: null }],
    });
    expect(review).toEqual({ verdict: 'request_changes', summary: 'Bad.', objections: [{ problem: 'It leaks.' }] });
  });

  it('rejects a verify verdict that contradicts its failures', () => {
    expect(VerifyVerdictSchema.safeParse({ passed: false, summary: 'x', failures: [] }).success).toBe(false);
    expect(
      VerifyVerdictSchema.safeParse({ passed: true, summary: 'x', failures: [{ check: 'npm test', problem: 'red' }] }).success,
    ).toBe(false);
    expect(VerifyVerdictSchema.safeParse({ passed: true, summary: 'All green.', failures: [] }).success).toBe(true);
  });

  it('bounds the decomposition by maxSubtasks', () => {
    const step = { title: 't', description: 'd' };
    expect(decompositionSchema(2).safeParse({ steps: [step, step, step] }).success).toBe(false);
    expect(decompositionSchema(2).safeParse({ steps: [] }).success).toBe(false);
    expect(decompositionSchema(2).safeParse({ steps: [step] }).success).toBe(true);
    expect(() => decompositionSchema(0)).toThrow(/at least 1/);
  });

  it('generates a tool schema for every stage schema', () => {
    for (const schema of [decompositionSchema(4), PlanSchema, ReviewVerdictSchema, VerifyVerdictSchema] as z.ZodType[]) {
      expect(toolParameters(schema)).toMatchObject({ type: 'object', properties: expect.any(Object) });
    }
  });
});
