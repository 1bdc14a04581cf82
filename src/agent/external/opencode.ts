/**
 * OpenCode (`opencode run`, 1.18.x) headless inside the sandbox, speaking to the LLM gateway only.
 *
 * How it is locked down (each found by running the real CLI against a recording server):
 * - Our whole configuration comes in OPENCODE_CONFIG_CONTENT, merged after the global and project
 *   configs; OPENCODE_DISABLE_PROJECT_CONFIG=1 keeps the repository's opencode.json(c) and
 *   `.opencode/` (agents, commands, MCP servers, providers, plugins) out of that merge, and
 *   OPENCODE_PURE=1 skips external plugins. A repository with a hostile opencode.json (another
 *   baseURL, another provider and model, an MCP server, an npm plugin) still sends every request here.
 * - `enabled_providers` leaves only the gateway's provider; the model is declared in the config, so
 *   no models.dev catalogue is needed (OPENCODE_DISABLE_MODELS_FETCH=1: the sandbox cannot reach it).
 * - `small_model` is the session's model: the title and summary side requests otherwise pick a
 *   catalogue "small" model (claude-haiku-…) the session did not ask for. `--title` skips the
 *   title request altogether.
 * - Left alone, OpenCode npm-installs @opencode-ai/plugin into ~/.config/opencode in the background
 *   on every start. It skips that when node_modules exists and package-lock.json lists the package,
 *   so we write both (an empty node_modules; nothing there is ever loaded, plugins being off).
 *
 * What no setting stops (1.18.33): OpenCode's second config loader still imports the repository's
 * `.opencode/plugin(s)/*.{js,ts}` and calls their setup() inside the OpenCode process, and may
 * npm-install a plugin the repository's opencode.json names (into ~/.cache/opencode/packages).
 * That is repository code running as the sandbox user, as its tests do under the bash tool: the
 * sandbox and the gateway (session token, budget) are the boundary, not OpenCode.
 */
import { GATEWAY_DIRECT_ENV, parseJsonLine, type AgentCli, type AgentCliEvent, type AgentCliInput, type AgentCliLaunch, type GatewayApi } from './agent-cli.js';

/**
 * Token limits declared for the gateway's model, which no catalogue describes here. Output stays
 * within what current models of both providers accept (OpenCode asks 32k by default, too much for
 * some); the context size is what OpenCode compacts the conversation against.
 */
const MODEL_LIMITS: Record<GatewayApi, { context: number; output: number }> = {
  anthropic: { context: 200_000, output: 16_384 },
  openai: { context: 128_000, output: 16_384 },
};

/** The session's gateway token, read by the config; no provider's own key variable is used. */
const TOKEN_VARIABLE = 'TELECODER_GATEWAY_TOKEN';

/** Where our own files go: the sandbox user's home, never the workspace (they must not be committed). */
function ownDir(home: string): string {
  return `${home}/.telecoder/opencode`;
}

function config(input: AgentCliInput, instructionsPath: string | undefined): Record<string, unknown> {
  const { api, model } = input.gateway;
  // The Anthropic SDK wants the base URL with /v1 (it appends /messages); the OpenAI one already has it
  // (OpenCode's openai provider calls /responses, streamed).
  const baseURL = api === 'anthropic' ? `${input.gateway.anthropicBaseUrl}/v1` : input.gateway.openaiBaseUrl;
  return {
    $schema: 'https://opencode.ai/config.json',
    autoupdate: false,
    share: 'disabled',
    model: `${api}/${model}`,
    small_model: `${api}/${model}`,
    enabled_providers: [api],
    provider: {
      [api]: {
        // OpenCode substitutes {env:…} in its config: the token then sits in one variable only.
        options: { baseURL, apiKey: `{env:${TOKEN_VARIABLE}}` },
        models: { [model]: { name: model, limit: MODEL_LIMITS[api] } },
      },
    },
    // The Docker sandbox is the boundary; OpenCode's own prompts would only stall a headless run.
    permission: 'allow',
    // Project config being off, AGENTS.md is not read by itself any more: name it (a missing file is skipped).
    instructions: [...(instructionsPath ? [instructionsPath] : []), `${input.workspace}/AGENTS.md`],
    // `steps` bounds the build agent's LLM round trips; at the limit OpenCode asks for a text-only summary.
    agent: { build: { steps: input.maxTurns } },
  };
}

function launch(input: AgentCliInput): AgentCliLaunch {
  const dir = ownDir(input.home);
  const promptPath = `${dir}/prompt.md`;
  const instructionsPath = input.instructions ? `${dir}/instructions.md` : undefined;
  const configDir = `${input.home}/.config/opencode`;
  const files = [
    { path: promptPath, content: input.prompt },
    ...(instructionsPath ? [{ path: instructionsPath, content: input.instructions! }] : []),
    { path: `${configDir}/package-lock.json`, content: `${JSON.stringify({ packages: { '': { dependencies: { '@opencode-ai/plugin': '*' } } } })}\n` },
    { path: `${configDir}/node_modules/.keep`, content: '' },
  ];
  return {
    // The prompt goes in on stdin: given as an argument, `opencode run` wraps it in quotes and
    // escapes the quotes inside; stdin reaches the model verbatim.
    argv: [
      'sh',
      '-c',
      'exec opencode run --format json --title telecoder --model "$1" --dir "$2" < "$3"',
      'opencode',
      `${input.gateway.api}/${input.gateway.model}`,
      input.workspace,
      promptPath,
    ],
    env: {
      [TOKEN_VARIABLE]: input.gateway.token,
      OPENCODE_CONFIG_CONTENT: JSON.stringify(config(input, instructionsPath)),
      OPENCODE_DISABLE_PROJECT_CONFIG: '1',
      OPENCODE_PURE: '1',
      OPENCODE_DISABLE_DEFAULT_PLUGINS: '1',
      OPENCODE_DISABLE_AUTOUPDATE: '1',
      OPENCODE_DISABLE_MODELS_FETCH: '1',
      OPENCODE_DISABLE_SHARE: '1',
      OPENCODE_DISABLE_LSP_DOWNLOAD: '1',
      // Skills and prompts from ~/.claude and ~/.agents are not ours to load.
      OPENCODE_DISABLE_CLAUDE_CODE: '1',
      OPENCODE_DISABLE_EXTERNAL_SKILLS: '1',
      // Where the package-lock above was written, whatever the image sets.
      XDG_CONFIG_HOME: `${input.home}/.config`,
      ...GATEWAY_DIRECT_ENV,
    },
    files,
  };
}

/**
 * `opencode run --format json` prints one event a line: step_start, text, tool_use (once the tool
 * finished), step_finish (with the step's reason and tokens) and error. It prints no final result,
 * so the last text of each session is kept (keyed by sessionID: one AgentCli serves every run)
 * and becomes the result when a step finishes for any reason but tool calls, which is what ends
 * OpenCode's loop.
 */
const lastText = new Map<string, string>();

function parseLine(line: string): AgentCliEvent[] {
  const event = parseJsonLine(line);
  if (!event || typeof event !== 'object') return [];
  const session = String(event.sessionID ?? '');
  const part = event.part ?? {};
  switch (event.type) {
    case 'text':
      if (typeof part.text !== 'string' || part.text === '') return [];
      lastText.set(session, part.text);
      return [{ kind: 'output', text: part.text }];
    case 'tool_use':
      return [{ kind: 'tool', name: String(part.tool), arguments: part.state?.input ?? {} }];
    case 'step_finish': {
      if (part.reason === 'tool-calls') return [];
      const summary = lastText.get(session) ?? '';
      lastText.delete(session);
      return [{ kind: 'result', summary }];
    }
    case 'error': {
      lastText.delete(session);
      const name = event.error?.name ?? 'Error';
      const message = event.error?.data?.message ?? event.error?.message ?? JSON.stringify(event.error);
      return [{ kind: 'result', summary: `${name}: ${message}`, isError: true }];
    }
    default:
      return [];
  }
}

export const opencode: AgentCli = {
  name: 'opencode',
  binary: 'opencode',
  apis: ['anthropic', 'openai'],
  launch,
  parseLine,
};
