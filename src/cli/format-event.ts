import type { SessionEventJson } from './api-client.js';

const MAX_OUTPUT_LINES = 12;
const MAX_LINE_CHARS = 200;

function oneLine(text: string, max = MAX_LINE_CHARS): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The argument a person recognises a tool call by: the command, else the path, else the JSON. */
function toolArgument(input: unknown): string {
  if (typeof input === 'string') {
    try {
      return toolArgument(JSON.parse(input));
    } catch {
      return input;
    }
  }
  if (isObject(input)) {
    for (const key of ['command', 'cmd', 'path', 'file', 'pattern', 'query']) {
      const value = input[key];
      if (typeof value === 'string') return value;
    }
  }
  return input === undefined ? '' : JSON.stringify(input);
}

function formatTool(data: unknown): string {
  if (!isObject(data)) return `→ ${oneLine(String(data))}`;
  const name = data.name ?? data.tool ?? 'tool';
  const argument = toolArgument(data.input ?? data.args ?? data.arguments);
  return oneLine(`→ ${String(name)}${argument ? `: ${argument}` : ''}`);
}

function formatOutput(text: string): string {
  const lines = text.replace(/\s+$/, '').split('\n');
  const shown = lines.slice(0, MAX_OUTPUT_LINES).map((line) => `  ${line.length > MAX_LINE_CHARS ? `${line.slice(0, MAX_LINE_CHARS - 1)}…` : line}`);
  if (lines.length > MAX_OUTPUT_LINES) shown.push(`  … ${lines.length - MAX_OUTPUT_LINES} more lines`);
  return shown.join('\n');
}

function formatProgress(data: unknown): string {
  if (!isObject(data)) return oneLine(String(data));
  const status = typeof data.status === 'string' ? ` (${data.status})` : '';
  return oneLine(`Step ${String(data.step)}/${String(data.total)}: ${String(data.title ?? '')}${status}`);
}

/** The setup stage's end (its start and each command already show as output lines). */
function formatSetup(data: unknown): string | undefined {
  if (!isObject(data) || data.status === 'running' || data.status === 'skipped') return undefined;
  const seconds = typeof data.durationMs === 'number' ? ` in ${(data.durationMs / 1000).toFixed(1)} s` : '';
  return data.status === 'passed' ? `▸ Setup done${seconds}` : `▸ Setup failed${seconds}; the agent works on without it`;
}

/** One event as the lines a person reads in `run` and `logs`; undefined for bookkeeping events. */
export function formatEvent(event: SessionEventJson): string | undefined {
  const { data } = event;
  switch (event.type) {
    case 'status':
      return `• status: ${String(data)}`;
    case 'step':
      return `▸ ${oneLine(String(data))}`;
    case 'progress':
      return `▸ ${formatProgress(data)}`;
    case 'tool':
      return formatTool(data);
    case 'output':
      return typeof data === 'string' ? (data.trim() === '' ? undefined : formatOutput(data)) : formatOutput(JSON.stringify(data));
    case 'error':
      return `✗ ${oneLine(String(data), 1000)}`;
    case 'setup':
      return formatSetup(data);
    default:
      // result, usage and done are summed up once the stream ends.
      return undefined;
  }
}

/** What the CLI is waiting for after `event`, for the live elapsed-time line. */
export function activityLabel(event: SessionEventJson): string {
  if (event.type === 'tool' && isObject(event.data)) {
    const argument = toolArgument(event.data.input ?? event.data.args ?? event.data.arguments);
    return oneLine(argument || String(event.data.name ?? event.data.tool ?? 'tool'), 60);
  }
  if (event.type === 'setup') return 'setting up the workspace';
  return 'working';
}
