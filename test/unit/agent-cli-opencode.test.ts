import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { AgentCliEvent, AgentCliInput } from '../../src/agent/external/agent-cli.js';
import { opencode } from '../../src/agent/external/opencode.js';

// Real `opencode run --format json` output (OpenCode 1.18.33), run with launch()'s argv, env and
// files against a recording fake Messages server: write hello.txt, a bash command, the final answer.
const fixture = new URL('../fixtures/agents/opencode-output.jsonl', import.meta.url);
const lines = readFileSync(fixture, 'utf8').split('\n').filter((line) => line !== '');

// What the same CLI printed (its only line, exit code 1) when every request got a 401.
const REFUSED_LINE =
  '{"type":"error","timestamp":1795809708832,"sessionID":"ses_de1667cbdffenWxLogFF9clmqI","error":{"name":"APIError","data":{"message":"gateway: token revoked","statusCode":401,"isRetryable":false,"responseHeaders":{"connection":"keep-alive","content-type":"application/json","date":"Fri, 27 Nov 2026 20:01:48 GMT","keep-alive":"timeout=5","transfer-encoding":"chunked"},"responseBody":"{\\"type\\":\\"error\\",\\"error\\":{\\"type\\":\\"authentication_error\\",\\"message\\":\\"gateway: token revoked\\"}}","metadata":{"url":"http://127.0.0.1:41417/anthropic/v1/messages"}}}}';

const parseAll = (all: string[]): AgentCliEvent[] => all.flatMap((line) => opencode.parseLine(line));

describe('opencode parseLine', () => {
  it('reads a run: the file write, the command, its words, then its last words as the result', () => {
    const events = parseAll(lines);
    expect(events.map((event) => event.kind)).toEqual(['tool', 'tool', 'output', 'result']);
    expect(events[0]).toMatchObject({ kind: 'tool', name: 'write', arguments: { content: 'hello from opencode\n' } });
    expect((events[0] as { arguments: { filePath: string } }).arguments.filePath).toMatch(/^\/.*\/ws\/hello\.txt$/);
    expect(events[1]).toEqual({ kind: 'tool', name: 'bash', arguments: { command: 'echo ran-ok > ran.txt && cat ran.txt', description: 'Run a command' } });
    expect(events[2]).toEqual({ kind: 'output', text: 'All done: wrote hello.txt and ran the command.' });
    expect(events[3]).toEqual({ kind: 'result', summary: 'All done: wrote hello.txt and ran the command.' });
  });

  it('gives no events for step starts and for steps that end in tool calls', () => {
    const quiet = lines.filter((line) => {
      const event = JSON.parse(line);
      return event.type === 'step_start' || (event.type === 'step_finish' && event.part.reason === 'tool-calls');
    });
    expect(quiet.length).toBe(5);
    for (const line of quiet) expect(opencode.parseLine(line)).toEqual([]);
  });

  it("keeps each run's last words apart when runs interleave", () => {
    const other = (line: string) => line.replaceAll(/ses_[A-Za-z0-9]+/g, 'ses_other');
    const text = lines.find((line) => JSON.parse(line).type === 'text')!;
    const finish = lines.at(-1)!;
    opencode.parseLine(text);
    opencode.parseLine(other(text.replace('All done', 'Other run')));
    expect(opencode.parseLine(finish)).toEqual([{ kind: 'result', summary: 'All done: wrote hello.txt and ran the command.' }]);
    expect(opencode.parseLine(other(finish))).toEqual([{ kind: 'result', summary: 'Other run: wrote hello.txt and ran the command.' }]);
    // A run that ends without a word still ends, with an empty summary.
    expect(opencode.parseLine(finish)).toEqual([{ kind: 'result', summary: '' }]);
  });

  it('reports a refused run as an error result with the reason', () => {
    expect(opencode.parseLine(REFUSED_LINE)).toEqual([{ kind: 'result', summary: 'APIError: gateway: token revoked', isError: true }]);
  });

  it('ignores what is not a JSON event it knows', () => {
    for (const line of ['', 'Error: something', '[1,2]', 'null', '{"type":"reasoning","part":{"text":"hm"}}', '{"type":"text","part":{}}']) {
      expect(opencode.parseLine(line)).toEqual([]);
    }
  });
});

describe('opencode launch', () => {
  const input: AgentCliInput = {
    prompt: '--help me fix the "build"\n$(rm -rf /)',
    instructions: 'Follow CONTRIBUTING.md.',
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
  const configOf = (env: Record<string, string>) => JSON.parse(env.OPENCODE_CONFIG_CONTENT!);
  const fileAt = (files: { path: string; content: string }[], path: string) => files.find((file) => file.path === path)?.content;

  it('runs opencode run with JSON events in the workspace, the prompt from a file on stdin', () => {
    const { argv, files } = opencode.launch(input);
    expect(argv.slice(0, 2)).toEqual(['sh', '-c']);
    // The script takes its values as arguments: nothing from the prompt or the paths is parsed by sh.
    expect(argv[2]).toBe('exec opencode run --format json --title telecoder --model "$1" --dir "$2" < "$3"');
    expect(argv.slice(4)).toEqual(['anthropic/claude-sonnet-4-5', '/workspace', '/home/sandbox/.telecoder/opencode/prompt.md']);
    expect(fileAt(files, '/home/sandbox/.telecoder/opencode/prompt.md')).toBe(input.prompt);
  });

  it('gives the instructions, AGENTS.md, the turn limit and every permission through its config', () => {
    const { env, files } = opencode.launch(input);
    const config = configOf(env);
    expect(config.instructions).toEqual(['/home/sandbox/.telecoder/opencode/instructions.md', '/workspace/AGENTS.md']);
    expect(fileAt(files, '/home/sandbox/.telecoder/opencode/instructions.md')).toBe('Follow CONTRIBUTING.md.');
    expect(config.agent.build.steps).toBe(30);
    expect(config.permission).toBe('allow');
    const without = opencode.launch({ ...input, instructions: undefined });
    expect(configOf(without.env).instructions).toEqual(['/workspace/AGENTS.md']);
    expect(without.files.some((file) => file.path.endsWith('instructions.md'))).toBe(false);
  });

  for (const [api, baseURL, model] of [
    ['anthropic', 'http://127.0.0.1:41414/anthropic/v1', 'claude-sonnet-4-5'],
    ['openai', 'http://127.0.0.1:41414/openai/v1', 'gpt-5.1'],
  ] as const) {
    it(`${api}: sends everything to the gateway with the session's token and model only`, () => {
      const launch = opencode.launch({ ...input, gateway: { ...input.gateway, api, model } });
      const config = configOf(launch.env);
      expect(config.model).toBe(`${api}/${model}`);
      expect(config.small_model).toBe(`${api}/${model}`);
      expect(config.enabled_providers).toEqual([api]);
      expect(Object.keys(config.provider)).toEqual([api]);
      expect(config.provider[api].options).toEqual({ baseURL, apiKey: '{env:TELECODER_GATEWAY_TOKEN}' });
      expect(Object.keys(config.provider[api].models)).toEqual([model]);
      // The token in one variable, no provider key variable, nothing in argv or files.
      expect(Object.keys(launch.env).filter((name) => launch.env[name] === 'tok-session-5f3a')).toEqual(['TELECODER_GATEWAY_TOKEN']);
      expect(Object.keys(launch.env).filter((name) => /API_KEY|AUTH_TOKEN/.test(name))).toEqual([]);
      expect(JSON.stringify(launch.env.OPENCODE_CONFIG_CONTENT)).not.toContain('tok-session-5f3a');
      expect(launch.argv.join('\n')).not.toContain('tok-session-5f3a');
      expect(JSON.stringify(launch.files)).not.toContain('tok-session-5f3a');
      expect(launch.env.NO_PROXY?.split(',')).toContain('127.0.0.1');
    });
  }

  it("shuts out the repository's config, plugins and every network use but the gateway", () => {
    const { env, files } = opencode.launch(input);
    for (const name of [
      'OPENCODE_DISABLE_PROJECT_CONFIG',
      'OPENCODE_PURE',
      'OPENCODE_DISABLE_DEFAULT_PLUGINS',
      'OPENCODE_DISABLE_AUTOUPDATE',
      'OPENCODE_DISABLE_MODELS_FETCH',
      'OPENCODE_DISABLE_SHARE',
      'OPENCODE_DISABLE_LSP_DOWNLOAD',
    ]) {
      expect(env[name], name).toBe('1');
    }
    const config = configOf(env);
    expect(config.autoupdate).toBe(false);
    expect(config.share).toBe('disabled');
    // The background npm install of @opencode-ai/plugin is skipped when this lock lists it.
    expect(env.XDG_CONFIG_HOME).toBe('/home/sandbox/.config');
    const lock = JSON.parse(fileAt(files, '/home/sandbox/.config/opencode/package-lock.json')!);
    expect(lock.packages[''].dependencies).toHaveProperty('@opencode-ai/plugin');
    expect(fileAt(files, '/home/sandbox/.config/opencode/node_modules/.keep')).toBe('');
    // Nothing is written into the workspace.
    expect(files.filter((file) => file.path.startsWith('/workspace'))).toEqual([]);
  });
});
