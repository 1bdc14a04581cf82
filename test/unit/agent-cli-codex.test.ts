import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { AgentCliEvent, AgentCliInput } from '../../src/agent/external/agent-cli.js';
import { codex, CODEX_TOKEN_ENV } from '../../src/agent/external/codex.js';

// Real `codex exec --json` output (codex-cli 0.171.0) against a recording fake Responses server:
// a preamble, apply_patch adding hello.txt, a command, the final message; and a run whose every
// request got 401 (five retries, then turn.failed).
const fixture = (name: string) => new URL(`../fixtures/agents/${name}`, import.meta.url);
const lines = (name: string) => readFileSync(fixture(name), 'utf8').split('\n').filter((line) => line !== '');
const parseAll = (name: string): AgentCliEvent[] => lines(name).flatMap((line) => codex.parseLine(line));

/** What the runner (external-agent.ts) takes as the summary: the result's, else the last output. */
function summaryOf(events: AgentCliEvent[]): string {
  const result = events.findLast((event) => event.kind === 'result');
  const lastOutput = events.findLast((event) => event.kind === 'output');
  return (result?.kind === 'result' && result.summary) || (lastOutput?.kind === 'output' ? lastOutput.text : '');
}

describe('codex parseLine', () => {
  it('reads a run: its words, the file change and the command in order, then the result', () => {
    const events = parseAll('codex-output.jsonl');
    expect(events.map((event) => event.kind)).toEqual(['output', 'tool', 'output', 'tool', 'output', 'result']);
    expect(events[0]).toEqual({ kind: 'output', text: 'Writing hello.txt first.' });
    expect(events[1]).toMatchObject({ kind: 'tool', name: 'file_change', arguments: { changes: [{ kind: 'add' }] } });
    expect((events[1] as { arguments: { changes: { path: string }[] } }).arguments.changes[0]?.path).toMatch(/\/hello\.txt$/);
    expect(events[3]).toEqual({ kind: 'tool', name: 'shell', arguments: { command: "/bin/bash -lc 'ls && cat hello.txt'", exitCode: 0 } });
    expect(events.at(-1)).toEqual({ kind: 'result', summary: '' });
    expect(summaryOf(events)).toBe('Done: wrote hello.txt and listed the directory.');
  });

  it('gives one event per tool: started and in-progress items are skipped', () => {
    const started = lines('codex-output.jsonl').filter((line) => JSON.parse(line).type === 'item.started');
    expect(started.length).toBeGreaterThan(0);
    for (const line of started) expect(codex.parseLine(line)).toEqual([]);
  });

  it('reports a failed turn as an error result, not the retries before it', () => {
    const all = lines('codex-failed.jsonl');
    expect(all.filter((line) => JSON.parse(line).type === 'error').length).toBeGreaterThan(1);
    const events = parseAll('codex-failed.jsonl');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ kind: 'result', isError: true });
    expect(summaryOf(events)).toMatch(/401 Unauthorized: the session token is not valid/);
  });

  it('ignores what is not a JSON event it knows', () => {
    for (const line of ['', 'WARNING: proceeding', '{"type":"thread.started","thread_id":"x"}', '{"type":"item.completed","item":{"type":"reasoning","text":"hm"}}', '[1,2]', 'null']) {
      expect(codex.parseLine(line)).toEqual([]);
    }
    // A non-fatal warning item (unknown model metadata) is not the agent's words.
    expect(codex.parseLine('{"type":"item.completed","item":{"id":"item_0","type":"error","message":"Model metadata for `x` not found."}}')).toEqual([]);
  });
});

describe('codex launch', () => {
  const input: AgentCliInput = {
    prompt: 'review',
    instructions: 'Follow "CONTRIBUTING.md".\nNo new dependencies.',
    gateway: {
      anthropicBaseUrl: 'http://127.0.0.1:41414/anthropic',
      openaiBaseUrl: 'http://127.0.0.1:41414/openai/v1',
      token: 'tok-session-5f3a',
      api: 'openai',
      model: 'gpt-5.5',
    },
    workspace: '/workspace',
    home: '/home/sandbox',
    maxTurns: 30,
  };
  const launch = codex.launch(input);
  const config = launch.files.find((file) => file.path === '/home/sandbox/.codex/config.toml');
  /** The value of each `-c key=value` override. */
  const overrides = new Map(
    launch.argv.flatMap((arg, at) => (launch.argv[at - 1] === '-c' ? [[arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]] : [])),
  );

  it('runs codex exec headless with JSON events, its own sandbox and approvals off, in the workspace', () => {
    expect(launch.argv.slice(0, 3)).toEqual(['codex', 'exec', '--json']);
    expect(launch.argv).toContain('--dangerously-bypass-approvals-and-sandbox');
    expect(launch.argv).toContain('--ephemeral');
    expect(launch.argv[launch.argv.indexOf('--cd') + 1]).toBe('/workspace');
    // The prompt comes last, after `--`: "review" must not become the review subcommand.
    expect(launch.argv.slice(-2)).toEqual(['--', 'review']);
  });

  it('keeps the token in the environment only, under the provider’s env_key, and no provider key anywhere', () => {
    expect(launch.env[CODEX_TOKEN_ENV]).toBe('tok-session-5f3a');
    expect(launch.env.CODEX_HOME).toBe('/home/sandbox/.codex');
    expect(launch.argv.join(' ')).not.toContain('tok-session-5f3a');
    for (const file of launch.files) expect(file.content).not.toContain('tok-session-5f3a');
    const everything = JSON.stringify(launch);
    expect(everything).not.toMatch(/OPENAI_API_KEY|CODEX_API_KEY|api\.openai\.com|chatgpt\.com/);
    // The commands Codex runs do not inherit the token.
    expect(config?.content).toMatch(new RegExp(`\\[shell_environment_policy\\]\\nexclude = \\["${CODEX_TOKEN_ENV}"\\]`));
    // The gateway is on loopback; a sandbox proxy must not take its requests.
    expect(launch.env.NO_PROXY?.split(',')).toContain('127.0.0.1');
  });

  it('points a Responses provider at the gateway, in the file and again on the command line', () => {
    expect(config).toBeDefined();
    const provider = config!.content.slice(config!.content.indexOf('[model_providers.telecoder]'));
    expect(provider).toContain('base_url = "http://127.0.0.1:41414/openai/v1"');
    expect(provider).toContain(`env_key = "${CODEX_TOKEN_ENV}"`);
    expect(provider).toContain('wire_api = "responses"');
    expect(config!.content).toMatch(/^model_provider = "telecoder"$/m);
    // -c outranks every configuration layer, a trusted project's included.
    expect(overrides.get('model_provider')).toBe('"telecoder"');
    expect(overrides.get('model_providers.telecoder.base_url')).toBe('"http://127.0.0.1:41414/openai/v1"');
    expect(overrides.get('model')).toBe('"gpt-5.5"');
  });

  it('turns off what would call out of the sandbox', () => {
    expect(config!.content).toMatch(/\[analytics\]\nenabled = false/);
    expect(config!.content).toMatch(/\[features\]\nplugins = false/);
    expect(config!.content).toMatch(/^web_search = "disabled"$/m);
    // Trusting the workspace would let its .codex/config.toml and hooks in.
    expect(config!.content).not.toContain('[projects');
    expect(launch.argv).not.toContain('--trust');
  });

  it('passes the instructions as a TOML string that reads back unchanged', () => {
    const value = overrides.get('developer_instructions');
    expect(value).toBeDefined();
    // A TOML basic string with only JSON-compatible escapes.
    expect(JSON.parse(value!)).toBe(input.instructions);
    expect(codex.launch({ ...input, instructions: undefined }).argv.join(' ')).not.toContain('developer_instructions');
    // A lone surrogate (invalid in TOML) is replaced rather than breaking the configuration.
    const broken = codex.launch({ ...input, instructions: 'a\uD800b' }).argv.find((arg) => arg.startsWith('developer_instructions='));
    expect(broken).toBe('developer_instructions="a\uFFFDb"');
  });
});
