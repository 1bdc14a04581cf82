/**
 * What TeleCoder needs to know to run one external coding agent (Claude Code, OpenCode, Codex)
 * inside a sandbox: how to start it headless, pointed at the LLM gateway, and how to read what it
 * prints. The runner (external-agent.ts) does the rest: the gateway grant, the tunnel, the files,
 * the exec, the time limit, the events.
 */

/** The wire formats the gateway forwards. */
export type GatewayApi = 'anthropic' | 'openai';

/**
 * Where the agent reaches the gateway from inside its sandbox. It is the sandbox's own loopback
 * (GATEWAY_SANDBOX_PORT), tunnelled to the server; the token is the session's, never a provider key.
 */
export interface GatewayAccess {
  /** `http://127.0.0.1:<port>/anthropic`: an Anthropic SDK appends `/v1/messages`. */
  anthropicBaseUrl: string;
  /** `http://127.0.0.1:<port>/openai/v1`: an OpenAI SDK appends `/chat/completions` or `/responses`. */
  openaiBaseUrl: string;
  /** The session's gateway token: send it as `x-api-key` or `Authorization: Bearer`. */
  token: string;
  /** The provider the server holds a key for, which the agent must speak. */
  api: GatewayApi;
  /** The model the session runs with (the configured one or the session's own). */
  model: string;
}

export interface AgentCliInput {
  /** The task text, as the built-in coder gets it (untrusted parts already fenced). */
  prompt: string;
  /** Extra system instructions (repository conventions, stage instructions). */
  instructions?: string;
  gateway: GatewayAccess;
  /** The repository inside the sandbox; the agent's working directory. */
  workspace: string;
  /** The sandbox user's home directory. */
  home: string;
  /** LLM round trips the agent may take, when it has a setting for that. */
  maxTurns: number;
}

/** A file written, as the sandbox user, before the agent starts (its own configuration). */
export interface AgentCliFile {
  /** Absolute path inside the sandbox. */
  path: string;
  content: string;
}

export interface AgentCliLaunch {
  argv: string[];
  /** Environment for the agent's process only (the gateway token goes here; never a provider key). */
  env: Record<string, string>;
  files: AgentCliFile[];
}

/** What one line of the agent's output meant. */
export type AgentCliEvent =
  /** The model's words, for the session's events. */
  | { kind: 'output'; text: string }
  /** A tool the agent ran (a command, an edit), for the session's events. */
  | { kind: 'tool'; name: string; arguments: unknown }
  /** The agent's final answer; isError when the agent itself says it failed. */
  | { kind: 'result'; summary: string; isError?: boolean };

export interface AgentCli {
  /** As in TELECODER_CODING_AGENT and a session's `agent`. */
  readonly name: 'claude-code' | 'opencode' | 'codex';
  /** The command in the sandbox image (checked with `<binary> --version`). */
  readonly binary: string;
  /** The wire formats it can speak through the gateway, preferred first. */
  readonly apis: readonly GatewayApi[];
  /** The command line, environment and configuration files for one headless run. */
  launch(input: AgentCliInput): AgentCliLaunch;
  /** One line of the agent's stdout; unknown or non-JSON lines give no events. */
  parseLine(line: string): AgentCliEvent[];
}

/**
 * The agents' HTTP clients honour HTTP(S)_PROXY, which points at the egress proxy in a sandbox
 * with network: the gateway on the sandbox's loopback must be reached directly.
 */
export const GATEWAY_DIRECT_ENV: Readonly<Record<string, string>> = Object.freeze({
  NO_PROXY: 'localhost,127.0.0.1,::1',
  no_proxy: 'localhost,127.0.0.1,::1',
});

/** One line of an agent's JSON-lines output, or undefined when it is not JSON (a stray log line). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the agents' events are read loosely.
export function parseJsonLine(line: string): any {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}
