import { randomUUID } from 'node:crypto';
import Dockerode from 'dockerode';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AgentEventType, AgentRunResult } from '../../src/agent/coding-agent.js';
import { BuiltinAgent } from '../../src/agent/builtin-agent.js';
import { TOOL_SPECS } from '../../src/agent/agent-tools.js';
import { AnthropicClient } from '../../src/llm/anthropic-client.js';
import type { LLMClient } from '../../src/llm/client.js';
import { OpenAIClient } from '../../src/llm/openai-client.js';
import { DockerRuntime } from '../../src/sandbox/docker/docker-runtime.js';
import type { Sandbox } from '../../src/sandbox/runtime.js';
import { SANDBOX_CONTEXT_DIR, TEST_BASE_IMAGE, ensureTestImage } from '../helpers/sandbox-image.js';
import {
  startScriptedLLM,
  type RecordedRequest,
  type ScriptedLLM,
  type ScriptStep,
  type WireFormat,
} from '../helpers/scripted-llm-server.js';

const instance = `builtin-agent-test-${randomUUID().slice(0, 8)}`;
const MiB = 1024 * 1024;
let runtime: DockerRuntime;

beforeAll(async () => {
  const image = await ensureTestImage();
  runtime = new DockerRuntime({ image, baseImage: TEST_BASE_IMAGE, contextDir: SANDBOX_CONTEXT_DIR, instanceLabel: instance });
}, 600_000);

afterAll(async () => {
  // Whatever a failed test left behind.
  const docker = new Dockerode();
  const leftovers = await docker.listContainers({ all: true, filters: { label: [`telecoder.instance=${instance}`] } });
  await Promise.all(leftovers.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
});

interface RecordedEvent {
  type: AgentEventType;
  data: unknown;
}

function client(format: WireFormat, server: ScriptedLLM): LLMClient {
  const common = { model: 'scripted-model', maxRetries: 0, timeoutMs: 30_000 };
  return format === 'anthropic'
    ? new AnthropicClient({ ...common, apiKey: 'test', baseURL: server.anthropicBaseUrl })
    : new OpenAIClient({ ...common, apiKey: 'test', baseURL: server.openaiBaseUrl });
}

/** The tool results the model was sent in one request, in a provider-neutral shape. */
function toolResultsSent(request: RecordedRequest | undefined): { content: string; isError: boolean }[] {
  const messages: any[] = request?.body.messages ?? [];
  if (request?.format === 'anthropic') {
    const last = messages.at(-1);
    return (last?.content ?? [])
      .filter((block: any) => block.type === 'tool_result')
      .map((block: any) => ({ content: block.content as string, isError: block.is_error as boolean }));
  }
  const tail: any[] = [];
  for (let i = messages.length - 1; i >= 0 && messages[i].role === 'tool'; i -= 1) tail.unshift(messages[i]);
  return tail.map((message) => ({
    content: message.content as string,
    isError: (message.content as string).startsWith('Error: '),
  }));
}

describe.each(['anthropic', 'openai'] as const)('BuiltinAgent over the %s wire format in a Docker sandbox', (format) => {
  let sandbox: Sandbox;
  let server: ScriptedLLM | undefined;

  beforeAll(async () => {
    sandbox = await runtime.create({
      sessionId: `agent-${format}-${randomUUID().slice(0, 8)}`,
      network: 'none',
      limits: { memoryBytes: 512 * MiB, cpus: 1, pids: 256, wallClockMs: 600_000 },
    });
  }, 120_000);

  afterAll(async () => {
    await sandbox?.destroy();
  });

  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  async function run(
    script: ScriptStep[],
    options: { maxTurns?: number; commandTimeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<{ result?: AgentRunResult; error?: Error; events: RecordedEvent[]; llm: ScriptedLLM }> {
    server = await startScriptedLLM(script);
    const events: RecordedEvent[] = [];
    const agent = new BuiltinAgent();
    try {
      const result = await agent.run({
        sandbox,
        llm: client(format, server),
        prompt: 'Do the task.',
        maxTurns: options.maxTurns ?? 10,
        commandTimeoutMs: options.commandTimeoutMs ?? 60_000,
        signal: options.signal ?? new AbortController().signal,
        onEvent: (type, data) => events.push({ type, data }),
      });
      return { result, events, llm: server };
    } catch (error) {
      return { error: error as Error, events, llm: server };
    }
  }

  async function cat(path: string): Promise<string> {
    const result = await sandbox.exec(['cat', '--', path], { timeoutMs: 10_000 });
    expect(result.exitCode, result.stderr).toBe(0);
    return result.stdout;
  }

  it('writes, edits, runs a command and finishes, emitting events in order', async () => {
    const file = `notes-${format}/hello.txt`;
    const { result, error, events, llm } = await run([
      { text: 'Creating the file.', toolCalls: [{ name: 'write_file', arguments: { path: file, content: 'hello world\nbye\n' } }] },
      { toolCalls: [{ name: 'edit_file', arguments: { path: file, old_string: 'world', new_string: 'sandbox' } }] },
      { toolCalls: [{ name: 'run_command', arguments: { command: `cat ${file}; id -u; pwd; echo oops >&2; exit 3` } }] },
      { toolCalls: [{ name: 'finish', arguments: { summary: 'Created the greeting.' } }] },
    ]);

    expect(error).toBeUndefined();
    expect(result).toEqual({
      summary: 'Created the greeting.',
      usage: { inputTokens: 400, outputTokens: 80, turns: 4 },
    });
    expect(await cat(`/workspace/${file}`)).toBe('hello sandbox\nbye\n');

    expect(events.map((event) => event.type)).toEqual([
      'usage', 'output', 'tool', 'output',
      'usage', 'tool', 'output',
      'usage', 'tool', 'output',
      'usage', 'tool',
    ]);
    expect(events[0]?.data).toEqual({ inputTokens: 100, outputTokens: 20, turns: 1 });
    expect(events[1]?.data).toBe('Creating the file.');
    expect(events[2]?.data).toEqual({ name: 'write_file', arguments: { path: file, content: 'hello world\nbye\n' } });
    expect(events[3]?.data).toMatch(/^Wrote notes-\w+\/hello\.txt \(3 lines, 16 bytes\)/);
    expect(events[6]?.data).toBe(`Edited ${file}: replaced 1 occurrence.`);
    expect(events[8]?.data).toEqual({ name: 'run_command', arguments: expect.objectContaining({ command: expect.stringContaining('id -u') }) });
    const commandOutput = events[9]?.data as string;
    expect(commandOutput).toContain('Exit code: 3');
    expect(commandOutput).toContain('hello sandbox\nbye\n1000\n/workspace');
    expect(commandOutput).toContain('stderr:\noops');
    expect(events[10]?.data).toEqual({ inputTokens: 400, outputTokens: 80, turns: 4 });
    expect(events[11]?.data).toEqual({ name: 'finish', arguments: { summary: 'Created the greeting.' } });

    // What the model was sent: the tools and the system prompt, then each result in its own format.
    const first = llm.requests[0]?.body;
    const toolNames = format === 'anthropic' ? first.tools.map((t: any) => t.name) : first.tools.map((t: any) => t.function.name);
    expect(toolNames).toEqual(TOOL_SPECS.map((spec) => spec.name));
    const system = format === 'anthropic' ? first.system : first.messages[0].content;
    expect(system).toContain('/workspace');
    expect(system).toContain('finish');
    expect(toolResultsSent(llm.requests[3])).toEqual([{ content: commandOutput, isError: false }]);
  });

  it('explores with list_files, read_file and search, and ends on a reply without tool calls', async () => {
    const dir = `explore-${format}`;
    await sandbox.writeFile(`/workspace/${dir}/src/a.ts`, 'export const a = 1;\nexport const b = 2;\nconst needle = 3;\n');
    await sandbox.writeFile(`/workspace/${dir}/README.md`, 'needle in docs\n');
    const { result, error, events } = await run([
      { toolCalls: [{ name: 'list_files', arguments: { path: dir } }] },
      { toolCalls: [{ name: 'read_file', arguments: { path: `${dir}/src/a.ts`, start_line: 2, end_line: 3 } }] },
      { toolCalls: [{ name: 'search', arguments: { pattern: 'need+le', path: dir, glob: '*.ts' } }] },
      {
        toolCalls: [
          { name: 'edit_file', arguments: { path: `${dir}/src/a.ts`, old_string: 'export const', new_string: 'let' } },
          { name: 'read_file', arguments: { path: `${dir}/missing.ts` } },
        ],
      },
      { text: 'The needle is in src/a.ts line 3.' },
    ]);
    expect(error).toBeUndefined();
    expect(result?.summary).toBe('The needle is in src/a.ts line 3.');
    const outputs = events.filter((e) => e.type === 'output').map((e) => e.data as string);
    expect(outputs[0]).toBe(`Contents of ${dir} (depth 2):\nREADME.md\nsrc/\nsrc/a.ts`);
    expect(outputs[1]).toBe(`${dir}/src/a.ts (lines 2-3 of 3):\n     2\texport const b = 2;\n     3\tconst needle = 3;`);
    expect(outputs[2]).toBe(`${dir}/src/a.ts:3:const needle = 3;`);
    expect(outputs[3]).toMatch(/old_string occurs 2 times in explore-\w+\/src\/a\.ts.*replace_all/);
    expect(outputs[4]).toMatch(/Cannot read explore-\w+\/missing\.ts: no such file/);
    expect(outputs[5]).toBe('The needle is in src/a.ts line 3.');
    // The refused edit changed nothing.
    expect(await cat(`/workspace/${dir}/src/a.ts`)).toContain('export const a = 1;');
  });

  it('refuses paths outside the workspace with an error result the model sees', async () => {
    const { result, error, llm } = await run([
      {
        toolCalls: [
          { name: 'write_file', arguments: { path: '../escape.txt', content: 'x' } },
          { name: 'read_file', arguments: { path: '/etc/passwd' } },
          { name: 'list_files', arguments: { path: 'a/../../..' } },
        ],
      },
      { toolCalls: [{ name: 'finish', arguments: { summary: 'gave up' } }] },
    ]);
    expect(error).toBeUndefined();
    expect(result?.summary).toBe('gave up');
    const sent = toolResultsSent(llm.requests[1]);
    expect(sent).toHaveLength(3);
    for (const item of sent) {
      expect(item.isError).toBe(true);
      expect(item.content).toMatch(/Refused: ".*" is outside the repository/);
    }
    const escaped = await sandbox.exec(['test', '-e', '/escape.txt'], { timeoutMs: 10_000 });
    expect(escaped.exitCode).toBe(1);
  });

  it('fails after malformed tool arguments three times in a row, telling the model each time', async () => {
    const malformed = { toolCalls: [{ name: 'write_file', arguments: '{"path": "x.txt", "content": ' }] };
    const { error, llm, events } = await run([malformed, malformed, malformed, { text: 'never reached' }]);
    expect(error?.message).toMatch(/the model sent malformed tool calls 3 times in a row \(last: .*write_file/);
    expect(llm.requests).toHaveLength(3);
    const told = toolResultsSent(llm.requests[1]);
    expect(told[0]?.isError).toBe(true);
    expect(told[0]?.content).toMatch(format === 'openai' ? /not valid JSON/ : /must be a JSON object/);
    expect(events.filter((e) => e.type === 'usage')).toHaveLength(3);
  });

  it('lets the model correct malformed arguments before the third time', async () => {
    const { result, error } = await run([
      { toolCalls: [{ name: 'edit_file', arguments: { path: 'x.txt' } }] },
      { toolCalls: [{ name: 'no_such_tool', arguments: {} }] },
      { toolCalls: [{ name: 'run_command', arguments: { command: 'true' } }] },
      { toolCalls: [{ name: 'read_file', arguments: {} }] },
      { toolCalls: [{ name: 'finish', arguments: { summary: 'recovered' } }] },
    ]);
    expect(error).toBeUndefined();
    expect(result?.summary).toBe('recovered');
  });

  it('fails when it uses all its turns', async () => {
    const step = { toolCalls: [{ name: 'run_command', arguments: { command: 'true' } }] };
    const { error, llm } = await run([step, step, step], { maxTurns: 2 });
    expect(error?.message).toMatch(/^the agent used all 2 turns without finishing/);
    expect(llm.requests).toHaveLength(2);
  });

  it('stops promptly when aborted during an LLM call that never answers', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort('stop'), 200);
    const started = Date.now();
    const { error } = await run([{ hang: true }], { signal: controller.signal });
    expect(error?.name).toBe('AbortError');
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('stops promptly when aborted while a command runs, killing it', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort('stop'), 1_000);
    const started = Date.now();
    const { error, llm } = await run(
      [{ toolCalls: [{ name: 'run_command', arguments: { command: 'sleep 876' } }] }, { text: 'never asked' }],
      { signal: controller.signal },
    );
    expect(error?.name).toBe('AbortError');
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(llm.requests).toHaveLength(1);
    // The sandbox kills the aborted command's processes in the background.
    await expect
      .poll(async () => {
        const processes = await sandbox.exec(['ps', '-eo', 'args='], { timeoutMs: 10_000 });
        return processes.stdout.split('\n').filter((line) => line.startsWith('sleep 876'));
      }, { timeout: 10_000 })
      .toEqual([]);
  });

  it('reports a command that never ends as timed out and carries on', async () => {
    const started = Date.now();
    const { result, error, llm } = await run(
      [
        { toolCalls: [{ name: 'run_command', arguments: { command: 'echo started; sleep 987', timeout_seconds: 600 } }] },
        { toolCalls: [{ name: 'finish', arguments: { summary: 'moved on' } }] },
      ],
      { commandTimeoutMs: 2_000 },
    );
    expect(error).toBeUndefined();
    expect(result?.summary).toBe('moved on');
    const [timedOut] = toolResultsSent(llm.requests[1]);
    expect(timedOut?.isError).toBe(true);
    expect(timedOut?.content).toMatch(/timed out after 2s and was killed/);
    expect(timedOut?.content).toContain('started');
    // Capped by the server's limit, not the 600 s the model asked for.
    expect(Date.now() - started).toBeLessThan(20_000);
    const processes = await sandbox.exec(['ps', '-eo', 'args='], { timeoutMs: 10_000 });
    expect(processes.stdout.split('\n').filter((line) => line.startsWith('sleep 987'))).toEqual([]);
  });

  it('fails with the LLM error when the provider keeps failing', async () => {
    const { error } = await run([{ status: 500 }]);
    expect(error?.message).toMatch(new RegExp(`LLM request failed: ${format} answered 500`));
  });
});
