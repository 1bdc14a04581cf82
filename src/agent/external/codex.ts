/**
 * OpenAI Codex CLI (`codex exec`), headless, speaking the Responses API to the LLM gateway.
 * Checked against codex-cli 0.171.0 (the sandbox image's version) with a recording fake server.
 */
import { GATEWAY_DIRECT_ENV, parseJsonLine, type AgentCli, type AgentCliEvent, type AgentCliInput, type AgentCliLaunch } from './agent-cli.js';

/** Our provider's id in Codex's configuration; every request goes to it. */
const PROVIDER = 'telecoder';
/** The variable Codex reads the provider's bearer token from (`env_key`). */
export const CODEX_TOKEN_ENV = 'TELECODER_GATEWAY_TOKEN';

/**
 * A TOML basic string. JSON's escapes are TOML's too, except for lone surrogates (TOML accepts
 * only Unicode scalar values), which are replaced first.
 */
function toml(value: string): string {
  return JSON.stringify(value.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD'));
}

function configToml(input: AgentCliInput): string {
  const { gateway } = input;
  return [
    `model = ${toml(gateway.model)}`,
    `model_provider = ${toml(PROVIDER)}`,
    // web_search is a hosted tool: OpenAI would browse for the agent, outside the egress policy.
    'web_search = "disabled"',
    'check_for_update_on_startup = false',
    '',
    // Without these, codex calls ab.chatgpt.com (analytics), github.com and chatgpt.com (plugin
    // marketplaces) at start; the sandbox reaches none of them.
    '[analytics]',
    'enabled = false',
    '',
    '[feedback]',
    'enabled = false',
    '',
    '[features]',
    'plugins = false',
    '',
    // Codex passes its whole environment to the commands it runs, the token included, unless told.
    '[shell_environment_policy]',
    `exclude = [${toml(CODEX_TOKEN_ENV)}]`,
    '',
    `[model_providers.${PROVIDER}]`,
    'name = "TeleCoder LLM gateway"',
    `base_url = ${toml(gateway.openaiBaseUrl)}`,
    `env_key = ${toml(CODEX_TOKEN_ENV)}`,
    'wire_api = "responses"',
    // Plain HTTP POSTs with SSE answers: the gateway speaks no Responses WebSocket.
    'supports_websockets = false',
    '',
  ].join('\n');
}

function launch(input: AgentCliInput): AgentCliLaunch {
  const { gateway } = input;
  const codexHome = `${input.home}/.codex`;
  const argv = [
    'codex',
    'exec',
    // One JSON event a line on stdout (parseLine); logs and warnings go to stderr.
    '--json',
    '--color',
    'never',
    // The Docker sandbox is the boundary: Codex's own (Landlock/seccomp, bubblewrap) needs
    // privileges a container lacks, and nobody is there to approve anything.
    '--dangerously-bypass-approvals-and-sandbox',
    // Nothing to resume later: keep no session files in CODEX_HOME.
    '--ephemeral',
    // codex exec refuses to start outside a Git repository; the workspace is one, but the run
    // should not hinge on it.
    '--skip-git-repo-check',
    '--cd',
    input.workspace,
    // Command-line overrides outrank every configuration layer. The workspace is not trusted
    // (no `[projects]` entry), so Codex ignores its .codex/config.toml and hooks but reads AGENTS.md
    // (an explicit `trust_level = "untrusted"` would drop AGENTS.md too), and
    // 0.171 drops model_provider(s) and base URLs even from trusted project files; these pin the
    // route and the model regardless.
    '-c',
    `model_provider=${toml(PROVIDER)}`,
    '-c',
    `model_providers.${PROVIDER}.base_url=${toml(gateway.openaiBaseUrl)}`,
    '-c',
    `model=${toml(gateway.model)}`,
  ];
  // Sent as a developer message after Codex's own instructions (which stay: its tools need them).
  if (input.instructions) argv.push('-c', `developer_instructions=${toml(input.instructions)}`);
  // `--` keeps a prompt that starts with `-` or reads `review` from being taken as an option or a
  // subcommand. Codex has no turn limit setting: maxTurns is not used (the budget and the time
  // limit bound the run).
  argv.push('--', input.prompt);
  return {
    argv,
    env: {
      CODEX_HOME: codexHome,
      [CODEX_TOKEN_ENV]: gateway.token,
      ...GATEWAY_DIRECT_ENV,
    },
    files: [{ path: `${codexHome}/config.toml`, content: configToml(input) }],
  };
}

/* eslint-disable @typescript-eslint/no-explicit-any -- Codex's JSONL events, read defensively. */
function itemEvents(item: any): AgentCliEvent[] {
  switch (item?.type) {
    case 'agent_message':
      return typeof item.text === 'string' && item.text !== '' ? [{ kind: 'output', text: item.text }] : [];
    case 'command_execution':
      return [{ kind: 'tool', name: 'shell', arguments: { command: item.command, exitCode: item.exit_code ?? null } }];
    case 'file_change':
      return [{ kind: 'tool', name: 'file_change', arguments: { changes: item.changes ?? [] } }];
    case 'mcp_tool_call':
      return [{ kind: 'tool', name: `mcp:${item.server}/${item.tool}`, arguments: item.arguments ?? null }];
    case 'web_search':
      return [{ kind: 'tool', name: 'web_search', arguments: { query: item.query } }];
    default:
      // reasoning, todo_list, and `error` items (non-fatal warnings such as unknown model metadata).
      return [];
  }
}

function parseLine(line: string): AgentCliEvent[] {
  const event = parseJsonLine(line);
  switch (event?.type) {
    // Only completed items: every item has one, with its outcome (a command's exit code).
    case 'item.completed':
      return itemEvents(event.item);
    // The final answer is the last agent_message, which the runner already holds as the last
    // output: an empty summary makes it use that.
    case 'turn.completed':
      return [{ kind: 'result', summary: '' }];
    case 'turn.failed':
      return [{ kind: 'result', summary: String(event.error?.message ?? 'the turn failed'), isError: true }];
    default:
      // thread.started, turn.started, item.started/updated, and top-level `error` events, which
      // Codex prints for each retry ("Reconnecting... 2/5") before a turn.failed.
      return [];
  }
}

export const codex: AgentCli = {
  name: 'codex',
  binary: 'codex',
  // Codex speaks only the OpenAI Responses API.
  apis: ['openai'],
  launch,
  parseLine,
};
