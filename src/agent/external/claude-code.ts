/**
 * Claude Code (`claude -p`), headless, speaking Anthropic Messages to the LLM gateway.
 * Checked against Claude Code 2.1.332 (the sandbox image's version) with a recording fake server:
 * it then sends only `POST <base>/v1/messages?beta=true` (streamed, with its tools), nothing else.
 */
import { GATEWAY_DIRECT_ENV, parseJsonLine, type AgentCli, type AgentCliEvent, type AgentCliInput, type AgentCliLaunch } from './agent-cli.js';

function launch(input: AgentCliInput): AgentCliLaunch {
  const { gateway } = input;
  const argv = [
    'claude',
    '-p',
    // One JSON message a line (parseLine); stream-json in print mode refuses to run without --verbose.
    '--output-format',
    'stream-json',
    '--verbose',
    // The Docker sandbox is the boundary and nobody is there to approve anything. Claude Code
    // refuses this as root; the sandbox user is not root.
    '--dangerously-skip-permissions',
    '--max-turns',
    String(input.maxTurns),
    // Load no settings files: not the repository's .claude/settings.json and settings.local.json
    // (whose `env` could point ANTHROPIC_BASE_URL elsewhere, whose apiKeyHelper, hooks and
    // statusLine would run commands, whose enableAllProjectMcpServers would start .mcp.json
    // servers), nor ~/.claude/settings.json, which the agent itself could write mid-run.
    '--setting-sources',
    '',
    // No MCP servers at all: .mcp.json is the repository's.
    '--strict-mcp-config',
    // Without project settings Claude Code skips the repository's CLAUDE.md too; an added
    // directory's CLAUDE.md is read (CLAUDE_CODE_ADDITIONAL_DIRECTORIES_CLAUDE_MD), so it comes back.
    '--add-dir',
    input.workspace,
    // Nothing to resume later: keep no transcripts in the sandbox home.
    '--no-session-persistence',
  ];
  // `=` keeps instructions that start with `-` from being read as an option.
  if (input.instructions) argv.push(`--append-system-prompt=${input.instructions}`);
  // `--` keeps a prompt that starts with `-` from being read as an option.
  argv.push('--', input.prompt);
  return {
    argv,
    env: {
      // The SDK appends /v1/messages; AUTH_TOKEN is sent as `Authorization: Bearer` and, unlike a
      // missing key, starts no login. No ANTHROPIC_API_KEY: the token is all it gets.
      ANTHROPIC_BASE_URL: gateway.anthropicBaseUrl,
      ANTHROPIC_AUTH_TOKEN: gateway.token,
      // The session's model for the main loop, for the "small/fast" side calls, for each alias a
      // subagent may ask for, and for subagents.
      ANTHROPIC_MODEL: gateway.model,
      ANTHROPIC_SMALL_FAST_MODEL: gateway.model,
      ANTHROPIC_DEFAULT_HAIKU_MODEL: gateway.model,
      ANTHROPIC_DEFAULT_SONNET_MODEL: gateway.model,
      ANTHROPIC_DEFAULT_OPUS_MODEL: gateway.model,
      CLAUDE_CODE_SUBAGENT_MODEL: gateway.model,
      // Without these it calls api.anthropic.com at start (updates, telemetry, error reports); the
      // sandbox reaches nothing but the gateway.
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      DISABLE_AUTOUPDATER: '1',
      DISABLE_TELEMETRY: '1',
      DISABLE_ERROR_REPORTING: '1',
      CLAUDE_CODE_ADDITIONAL_DIRECTORIES_CLAUDE_MD: '1',
      // Its default is ten retries with back-off (minutes) even on 401, e.g. after a revoked grant.
      CLAUDE_CODE_MAX_RETRIES: '3',
      // Its configuration (~/.claude, ~/.claude.json) in the sandbox user's home, whatever HOME says.
      CLAUDE_CONFIG_DIR: `${input.home}/.claude`,
      ...GATEWAY_DIRECT_ENV,
    },
    // In print mode it needs no onboarding state or settings file: an empty home works.
    files: [],
  };
}

/* eslint-disable @typescript-eslint/no-explicit-any -- Claude Code's stream-json messages, read defensively. */

/** An assistant message holds one content block a line: text, tool_use or thinking. */
function assistantEvents(message: any): AgentCliEvent[] {
  const blocks: any[] = Array.isArray(message?.message?.content) ? message.message.content : [];
  // A subagent's messages (Task/Agent tool) are not the agent's own words.
  const own = message?.parent_tool_use_id == null;
  return blocks.flatMap((block): AgentCliEvent[] => {
    if (block?.type === 'text' && own && typeof block.text === 'string' && block.text !== '') return [{ kind: 'output', text: block.text }];
    if (block?.type === 'tool_use') return [{ kind: 'tool', name: String(block.name), arguments: block.input ?? null }];
    return [];
  });
}

/** The final line: `result` is the last answer; failures may carry only `errors` (error_max_turns). */
function resultEvent(message: any): AgentCliEvent {
  const isError = message.is_error === true || (typeof message.subtype === 'string' && message.subtype !== 'success');
  const errors: unknown[] = Array.isArray(message.errors) ? message.errors : [];
  const summary = typeof message.result === 'string' && message.result !== '' ? message.result : errors.map(String).join('; ') || (isError ? String(message.subtype ?? 'the run failed') : '');
  return isError ? { kind: 'result', summary, isError: true } : { kind: 'result', summary };
}

function parseLine(line: string): AgentCliEvent[] {
  const message = parseJsonLine(line);
  switch (message?.type) {
    case 'assistant':
      return assistantEvents(message);
    case 'result':
      return [resultEvent(message)];
    default:
      // system (init, api_retry), user (tool results, already told by the tool event), stream events.
      return [];
  }
}

export const claudeCode: AgentCli = {
  name: 'claude-code',
  binary: 'claude',
  // Claude Code speaks only Anthropic Messages.
  apis: ['anthropic'],
  launch,
  parseLine,
};
