/**
 * Plays the model for the real Codex CLI (codex exec, Responses API) on the scripted LLM server:
 * write hello.txt, run a command, then finish with a summary. Each answer is decided from the
 * request's input items (Codex resends the whole conversation every time, `store: false`), not
 * from how many requests came before, so retries and side requests do not shift the script.
 *
 * Codex 0.171 offers apply_patch as a custom (freeform) tool for the models it knows and no
 * apply_patch at all for others (a scripted model name). The scripted server answers with
 * function_call items only, so the file is written with apply_patch only when it is offered as a
 * function, and otherwise with exec_command (always a function tool).
 */
import type { RecordedRequest, ScriptedResponse, ScriptStep } from '../scripted-llm-server.js';

export interface CodexScriptOptions {
  /** What hello.txt should hold (a trailing newline is added by apply_patch; printf writes it as is). */
  content: string;
  /** The shell command to run after the file is written. */
  command: string;
  /** The final answer. */
  summary: string;
}

/* eslint-disable @typescript-eslint/no-explicit-any -- Codex's request bodies, read loosely. */

/** The calls the model already made in this conversation: `name` and their raw arguments or input. */
function previousCalls(input: any[]): { name: string; text: string }[] {
  return input
    .filter((item) => item?.type === 'function_call' || item?.type === 'custom_tool_call')
    .map((item) => ({ name: String(item.name), text: String(item.arguments ?? item.input ?? '') }));
}

function commandOf(argumentsText: string): unknown {
  try {
    return JSON.parse(argumentsText)?.cmd;
  } catch {
    return undefined;
  }
}

function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

function toolType(body: any, name: string): string | undefined {
  return (body?.tools ?? []).find((tool: any) => tool?.name === name)?.type;
}

/** One step, to repeat for as many requests as Codex may make (see codexScript). */
export function codexStep(options: CodexScriptOptions): (request: RecordedRequest) => ScriptedResponse {
  return (request) => {
    const body = request.body;
    const input: any[] = Array.isArray(body?.input) ? body.input : [];
    // A request without tools is not the agent's turn (a title, a summary, a compaction).
    if (!Array.isArray(body?.tools) || body.tools.length === 0) return { text: 'OK.' };
    const calls = previousCalls(input);
    const wrote = calls.some((call) => call.text.includes('hello.txt'));
    if (!wrote) {
      if (toolType(body, 'apply_patch') === 'function') {
        const lines = options.content.split('\n').map((line) => `+${line}`).join('\n');
        return { toolCalls: [{ name: 'apply_patch', arguments: { input: `*** Begin Patch\n*** Add File: hello.txt\n${lines}\n*** End Patch\n` } }] };
      }
      return { toolCalls: [{ name: 'exec_command', arguments: { cmd: `printf '%s' ${shellQuote(options.content)} > hello.txt` } }] };
    }
    const ran = calls.some((call) => call.name === 'exec_command' && commandOf(call.text) === options.command);
    if (!ran) return { toolCalls: [{ name: 'exec_command', arguments: { cmd: options.command } }] };
    return { text: options.summary };
  };
}

/** Enough steps for the whole run plus retries and side requests; unused steps are harmless. */
export function codexScript(options: CodexScriptOptions, steps = 10): ScriptStep[] {
  const step = codexStep(options);
  return Array.from({ length: steps }, () => step);
}
