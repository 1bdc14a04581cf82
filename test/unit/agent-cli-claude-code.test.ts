import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { AgentCliEvent, AgentCliInput } from '../../src/agent/external/agent-cli.js';
import { claudeCode } from '../../src/agent/external/claude-code.js';

// Real `claude -p --output-format stream-json --verbose` output (Claude Code 2.1.332), run with
// launch()'s argv and env against a recording fake Messages server: Write hello.txt, a Bash
// command, the final answer; a run whose every request got 401 (three retries, then the result);
// and a run stopped by --max-turns 1.
const fixture = (name: string) => new URL(`../fixtures/agents/${name}`, import.meta.url);
const lines = (name: string) => readFileSync(fixture(name), 'utf8').split('\n').filter((line) => line !== '');
const parseAll = (name: string): AgentCliEvent[] => lines(name).flatMap((line) => claudeCode.parseLine(line));

/** What the runner (external-agent.ts) takes as the summary: the result's, else the last output. */
function summaryOf(events: AgentCliEvent[]): string {
  const result = events.findLast((event) => event.kind === 'result');
  const lastOutput = events.findLast((event) => event.kind === 'output');
  return (result?.kind === 'result' && result.summary) || (lastOutput?.kind === 'output' ? lastOutput.text : '');
}

describe('claude-code parseLine', () => {
  it('reads a run: its words, the file write and the command in order, then the result', () => {
    const events = parseAll('claude-code-output.jsonl');
    expect(events.map((event) => event.kind)).toEqual(['output', 'tool', 'output', 'tool', 'output', 'result']);
    expect(events[0]).toEqual({ kind: 'output', text: 'I will write the file.' });
    expect(events[1]).toMatchObject({ kind: 'tool', name: 'Write', arguments: { content: 'Hello from Claude Code' } });
    expect((events[1] as { arguments: { file_path: string } }).arguments.file_path).toMatch(/^\/.*\/hello\.txt$/);
    expect(events[3]).toEqual({ kind: 'tool', name: 'Bash', arguments: { command: 'ls && cat hello.txt', description: 'Run the command' } });
    expect(events.at(-1)).toEqual({ kind: 'result', summary: 'Done: wrote hello.txt and ran the command.' });
    expect(summaryOf(events)).toBe('Done: wrote hello.txt and ran the command.');
  });

  it('gives no events for the init line and the tool results', () => {
    const quiet = lines('claude-code-output.jsonl').filter((line) => ['system', 'user'].includes(JSON.parse(line).type));
    expect(quiet.length).toBe(3);
    for (const line of quiet) expect(claudeCode.parseLine(line)).toEqual([]);
  });

  it('reports a run the gateway refused as an error result, not the retries before it', () => {
    const all = lines('claude-code-failed.jsonl');
    expect(all.filter((line) => JSON.parse(line).subtype === 'api_retry')).toHaveLength(3);
    const events = parseAll('claude-code-failed.jsonl');
    expect(events.map((event) => event.kind)).toEqual(['output', 'result']);
    expect(events.at(-1)).toMatchObject({ kind: 'result', isError: true });
    expect(summaryOf(events)).toMatch(/401/);
  });

  it('reports running out of turns as an error, with the reason as the summary', () => {
    const events = parseAll('claude-code-max-turns.jsonl');
    expect(events.at(-1)).toEqual({ kind: 'result', summary: 'Reached maximum number of turns (1)', isError: true });
  });

  it("keeps a subagent's tool calls but not its words", () => {
    const line = JSON.stringify({
      type: 'assistant',
      parent_tool_use_id: 'toolu_parent',
      message: { content: [{ type: 'text', text: 'sub' }, { type: 'tool_use', name: 'Read', input: { file_path: '/w/a' } }] },
    });
    expect(claudeCode.parseLine(line)).toEqual([{ kind: 'tool', name: 'Read', arguments: { file_path: '/w/a' } }]);
  });

  it('ignores what is not a JSON message it knows', () => {
    for (const line of ['', 'Error: something', '[1,2]', 'null', '{"type":"stream_event","event":{}}', '{"type":"assistant"}', '{"type":"assistant","message":{"content":[{"type":"thinking","thinking":"hm"}]}}']) {
      expect(claudeCode.parseLine(line)).toEqual([]);
    }
  });
});

describe('claude-code launch', () => {
  const input: AgentCliInput = {
    prompt: '--help me fix the build',
    instructions: '-Follow "CONTRIBUTING.md".\nNo new dependencies.',
    gateway: {
      anthropicBaseUrl: 'http://127.0.0.1:41414/anthropic',
      openaiBaseUrl: 'http://127.0.0.1:41414/openai/v1',
      token: 'tok-session-5f3a',
      api: 'anthropic',
      model: 'claude-sonnet-4-5',
    },
    workspace: '/workspace',
    home: '/home/sandbox',
    maxTurns: 30,
  };
  const launch = claudeCode.launch(input);
  const { argv, env } = launch;
  const valueOf = (flag: string) => (argv.includes(flag) ? argv[argv.indexOf(flag) + 1] : undefined);

  it('runs claude -p headless with stream-json, permissions bypassed and the turn limit', () => {
    expect(argv.slice(0, 2)).toEqual(['claude', '-p']);
    expect(valueOf('--output-format')).toBe('stream-json');
    expect(argv).toContain('--verbose');
    expect(argv).toContain('--dangerously-skip-permissions');
    expect(valueOf('--max-turns')).toBe('30');
  });

  it('passes the prompt and the instructions so that neither can be read as an option', () => {
    expect(argv.slice(-2)).toEqual(['--', '--help me fix the build']);
    expect(argv).toContain('--append-system-prompt=-Follow "CONTRIBUTING.md".\nNo new dependencies.');
    const without = claudeCode.launch({ ...input, instructions: undefined }).argv;
    expect(without.some((arg) => arg.startsWith('--append-system-prompt'))).toBe(false);
  });

  it("loads no settings files or MCP servers the repository could bring, but keeps its CLAUDE.md", () => {
    expect(valueOf('--setting-sources')).toBe('');
    expect(argv).toContain('--strict-mcp-config');
    expect(argv).not.toContain('--mcp-config');
    expect(valueOf('--add-dir')).toBe('/workspace');
    expect(env.CLAUDE_CODE_ADDITIONAL_DIRECTORIES_CLAUDE_MD).toBe('1');
  });

  it("sends everything to the gateway with the session's token and model, and nothing elsewhere", () => {
    expect(env.ANTHROPIC_BASE_URL).toBe('http://127.0.0.1:41414/anthropic');
    expect(env.ANTHROPIC_AUTH_TOKEN).toBe('tok-session-5f3a');
    for (const name of ['ANTHROPIC_MODEL', 'ANTHROPIC_SMALL_FAST_MODEL', 'ANTHROPIC_DEFAULT_HAIKU_MODEL', 'CLAUDE_CODE_SUBAGENT_MODEL']) {
      expect(env[name]).toBe('claude-sonnet-4-5');
    }
    expect(env.CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC).toBe('1');
    expect(env.NO_PROXY?.split(',')).toContain('127.0.0.1');
    expect(env.CLAUDE_CONFIG_DIR).toBe('/home/sandbox/.claude');
  });

  it('puts no provider key anywhere and the token only in the environment', () => {
    expect(env).not.toHaveProperty('ANTHROPIC_API_KEY');
    expect(Object.keys(env).filter((name) => env[name] === 'tok-session-5f3a')).toEqual(['ANTHROPIC_AUTH_TOKEN']);
    expect(argv.join('\n')).not.toContain('tok-session-5f3a');
    expect(JSON.stringify(launch.files)).not.toContain('tok-session-5f3a');
  });
});
