/**
 * Plays the model for the real Claude Code CLI (claude -p, Anthropic Messages) on the scripted LLM
 * server: write hello.txt with its Write tool, run a command with its Bash tool, then finish with a
 * summary. Each answer is decided from the request's messages (Claude Code resends the whole
 * conversation every time), not from how many requests came before, so retries and side requests
 * do not shift the script.
 *
 * Claude Code 2.1.332 sends every request to POST /v1/messages?beta=true with `stream: true`; the
 * agent's own turns carry its `tools` (Write, Bash, Edit, Read…). Write takes an absolute
 * `file_path`, which the script reads from the system context Claude Code sends ("Primary working
 * directory: …") unless `workspace` is given.
 */
import type { RecordedRequest, ScriptedResponse, ScriptStep } from '../scripted-llm-server.js';

export interface ClaudeCodeScriptOptions {
  /** What hello.txt should hold (Write writes it as is). */
  content: string;
  /** The shell command to run after the file is written. */
  command: string;
  /** The final answer. */
  summary: string;
  /** The workspace inside the sandbox; default: the working directory the request names. */
  workspace?: string;
}

/* eslint-disable @typescript-eslint/no-explicit-any -- Claude Code's request bodies, read loosely. */

/** The tool calls the model already made in this conversation. */
function previousCalls(messages: any[]): { name: string; input: any }[] {
  return messages
    .filter((message) => message?.role === 'assistant' && Array.isArray(message.content))
    .flatMap((message) => message.content)
    .filter((block: any) => block?.type === 'tool_use')
    .map((block: any) => ({ name: String(block.name), input: block.input ?? {} }));
}

/** Every piece of text the request carries (system blocks, messages' text), to search for context. */
function texts(body: any): string[] {
  const out: string[] = [];
  const add = (content: unknown) => {
    if (typeof content === 'string') out.push(content);
    else if (Array.isArray(content)) for (const block of content) if (typeof block?.text === 'string') out.push(block.text);
  };
  add(body?.system);
  for (const message of Array.isArray(body?.messages) ? body.messages : []) add(message?.content);
  return out;
}

function workspaceOf(body: any, options: ClaudeCodeScriptOptions): string {
  if (options.workspace) return options.workspace;
  for (const text of texts(body)) {
    const match = /Primary working directory: (\S+)/.exec(text);
    if (match?.[1]) return match[1];
  }
  throw new Error('claude-code script: the request names no working directory; pass `workspace`');
}

/** One step, to repeat for as many requests as Claude Code may make (see claudeCodeScript). */
export function claudeCodeStep(options: ClaudeCodeScriptOptions): (request: RecordedRequest) => ScriptedResponse {
  return (request) => {
    const body = request.body;
    // A request without tools is not the agent's turn (a title, a quota check, a summary).
    if (!Array.isArray(body?.tools) || body.tools.length === 0) return { text: 'OK.' };
    const calls = previousCalls(Array.isArray(body?.messages) ? body.messages : []);
    const wrote = calls.some((call) => call.name === 'Write' && String(call.input.file_path ?? '').endsWith('/hello.txt'));
    if (!wrote) {
      const filePath = `${workspaceOf(body, options).replace(/\/+$/, '')}/hello.txt`;
      return { text: 'Writing hello.txt.', toolCalls: [{ name: 'Write', arguments: { file_path: filePath, content: options.content } }] };
    }
    const ran = calls.some((call) => call.name === 'Bash' && call.input.command === options.command);
    if (!ran) return { toolCalls: [{ name: 'Bash', arguments: { command: options.command, description: 'Run the requested command' } }] };
    return { text: options.summary };
  };
}

/** Enough steps for the whole run plus retries and side requests; unused steps are harmless. */
export function claudeCodeScript(options: ClaudeCodeScriptOptions, steps = 10): ScriptStep[] {
  const step = claudeCodeStep(options);
  return Array.from({ length: steps }, () => step);
}
