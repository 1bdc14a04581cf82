/**
 * Plays the model for the real OpenCode CLI (`opencode run`, 1.18.33) on the scripted LLM server:
 * write hello.txt with its `write` tool, run a command with its `bash` tool, then finish with a
 * summary. Each answer is decided from the request (OpenCode resends the whole conversation every
 * time), not from how many requests came before, so retries and side requests do not shift it.
 *
 * What OpenCode sends, streamed (`stream: true`) in every case:
 * - anthropic provider: POST /v1/messages; openai provider: POST /v1/responses (not Chat
 *   Completions); both shapes are read here, and Chat Completions' too.
 * - The agent's turns carry its 10 tools (bash, edit, glob, grep, read, skill, task, todowrite,
 *   webfetch, write). Side requests carry none: the title (system "You are a title generator",
 *   skipped by TeleCoder's `--title`) and the summary when compacting; they get "OK.".
 * - `write` takes { filePath (absolute), content }; `bash` takes { command, description? }. The
 *   workspace comes from the system prompt ("Working directory: …") unless `workspace` is given.
 */
import type { RecordedRequest, ScriptedResponse, ScriptStep } from '../scripted-llm-server.js';

export interface OpenCodeScriptOptions {
  /** What hello.txt should hold (the write tool writes it as is). */
  content: string;
  /** The shell command to run after the file is written. */
  command: string;
  /** The final answer. */
  summary: string;
  /** The workspace inside the sandbox; default: the working directory the request names. */
  workspace?: string;
}

/* eslint-disable @typescript-eslint/no-explicit-any -- OpenCode's request bodies, read loosely. */

interface Call {
  name: string;
  input: any;
}

function parsed(text: unknown): any {
  if (typeof text !== 'string') return text ?? {};
  try {
    return JSON.parse(text);
  } catch {
    return {};
  }
}

/** The tool calls the model already made in this conversation, in any of the three wire formats. */
function previousCalls(body: any): Call[] {
  // Responses: the conversation is `input`, calls are function_call items with JSON `arguments`.
  if (Array.isArray(body?.input)) {
    return body.input
      .filter((item: any) => item?.type === 'function_call')
      .map((item: any) => ({ name: String(item.name), input: parsed(item.arguments) }));
  }
  const messages: any[] = Array.isArray(body?.messages) ? body.messages : [];
  return messages
    .filter((message) => message?.role === 'assistant')
    .flatMap((message): Call[] => [
      // Anthropic: tool_use blocks in the content.
      ...(Array.isArray(message.content) ? message.content : [])
        .filter((block: any) => block?.type === 'tool_use')
        .map((block: any) => ({ name: String(block.name), input: block.input ?? {} })),
      // Chat Completions: tool_calls on the message.
      ...(Array.isArray(message.tool_calls) ? message.tool_calls : []).map((call: any) => ({
        name: String(call?.function?.name),
        input: parsed(call?.function?.arguments),
      })),
    ]);
}

function workspaceOf(body: any, options: OpenCodeScriptOptions): string {
  if (options.workspace) return options.workspace;
  // The env block of OpenCode's system prompt: in `system` (Anthropic), `instructions` or the
  // first input items (Responses), or a system message (Chat Completions). Searching the whole body is simplest.
  const match = /Working directory: ([^\s"\\]+)/.exec(JSON.stringify(body ?? {}));
  if (match?.[1]) return match[1];
  throw new Error('opencode script: the request names no working directory; pass `workspace`');
}

/** One step, to repeat for as many requests as OpenCode may make (see opencodeScript). */
export function opencodeStep(options: OpenCodeScriptOptions): (request: RecordedRequest) => ScriptedResponse {
  return (request) => {
    const body = request.body;
    // No tools: not the agent's turn (a title, a compaction summary).
    if (!Array.isArray(body?.tools) || body.tools.length === 0) return { text: 'OK.' };
    const calls = previousCalls(body);
    const wrote = calls.some((call) => call.name === 'write' && String(call.input?.filePath ?? '').endsWith('/hello.txt'));
    if (!wrote) {
      const filePath = `${workspaceOf(body, options).replace(/\/+$/, '')}/hello.txt`;
      return { text: 'Writing hello.txt.', toolCalls: [{ name: 'write', arguments: { filePath, content: options.content } }] };
    }
    const ran = calls.some((call) => call.name === 'bash' && call.input?.command === options.command);
    if (!ran) return { toolCalls: [{ name: 'bash', arguments: { command: options.command, description: 'Run the requested command' } }] };
    return { text: options.summary };
  };
}

/** Enough steps for the whole run plus retries and side requests; unused steps are harmless. */
export function opencodeScript(options: OpenCodeScriptOptions, steps = 10): ScriptStep[] {
  const step = opencodeStep(options);
  return Array.from({ length: steps }, () => step);
}
