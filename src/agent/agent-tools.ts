import { posix } from 'node:path';
import { z } from 'zod';
import type { ToolCall, ToolSpec } from '../llm/client.js';
import type { ExecResult, Sandbox } from '../sandbox/runtime.js';

/**
 * The built-in agent's tools: their JSON Schemas (generated from the zod schemas that validate
 * the model's arguments, so the two cannot drift apart) and their execution inside the sandbox.
 * Everything runs as argv through `sandbox.exec`; no model text is ever spliced into a shell string.
 */

const MAX_READ_LINES = 2_000;
const MAX_LINE_CHARS = 2_000;
const MAX_LIST_ENTRIES = 500;
const MAX_SEARCH_LINES = 200;
/** Per stream of a command's output, what the model gets to see (head and tail). */
const MAX_COMMAND_OUTPUT_CHARS = 15_000;
const MAX_RESULT_CHARS = 60_000;
const READ_EXEC_BYTES = 8 * 1024 * 1024;
const FILE_OP_TIMEOUT_MS = 60_000;

const schemas = {
  list_files: z.object({
    path: z.string().optional().describe('Directory relative to the repository root; default the root.'),
    depth: z.coerce.number().int().min(1).max(10).optional().describe('How many levels deep to list; default 2.'),
  }),
  read_file: z.object({
    path: z.string().min(1).describe('File path relative to the repository root.'),
    start_line: z.coerce.number().int().min(1).optional().describe('First line to show (1-based); default 1.'),
    end_line: z.coerce
      .number()
      .int()
      .min(1)
      .optional()
      .describe(`Last line to show; at most ${MAX_READ_LINES} lines are shown per call.`),
  }),
  search: z.object({
    pattern: z.string().min(1).describe('Regular expression (ripgrep syntax).'),
    path: z.string().optional().describe('File or directory to search; default the whole repository.'),
    glob: z.string().optional().describe('Only files matching this glob, e.g. "*.ts" or "src/**/*.py".'),
  }),
  write_file: z.object({
    path: z.string().min(1).describe('File path relative to the repository root; parent directories are created.'),
    content: z.string().describe('The complete new content of the file.'),
  }),
  edit_file: z.object({
    path: z.string().min(1).describe('File path relative to the repository root.'),
    old_string: z.string().min(1).describe('Exact text to replace, including whitespace and indentation.'),
    new_string: z.string().describe('Text to put in its place.'),
    replace_all: z.boolean().optional().describe('Replace every occurrence instead of exactly one.'),
  }),
  run_command: z.object({
    command: z.string().min(1).describe('A bash command line, run in the repository root.'),
    timeout_seconds: z.coerce
      .number()
      .int()
      .min(1)
      .optional()
      .describe('Kill the command after this many seconds (capped by the server limit).'),
  }),
  finish: z.object({
    summary: z
      .string()
      .min(1)
      .describe('What you changed and why (or, when the task was a question, the answer).'),
  }),
} as const;

export type ToolName = keyof typeof schemas;

const descriptions: Record<ToolName, string> = {
  list_files:
    'List files and directories (directories end with "/"). .git and node_modules are not descended into.',
  read_file:
    'Read a text file. Each line is prefixed with its line number and a tab; that prefix is not part of the file.',
  search: 'Search file contents with ripgrep. Returns matching lines as path:line:text.',
  write_file: 'Create a file or replace its whole content.',
  edit_file:
    'Replace old_string with new_string in a file. old_string must occur exactly once unless replace_all is true; ' +
    'include enough surrounding lines to make it unique.',
  run_command:
    'Run a bash command in the repository root (build, tests, linters, git status...). Returns the exit code, ' +
    'stdout and stderr. There is no network access unless the operator enabled it.',
  finish: 'Call when the work is done, with a summary of the change, or the answer when the task was a question.',
};

function specFor(name: ToolName): ToolSpec {
  const { $schema: _ignored, ...parameters } = z.toJSONSchema(schemas[name], { io: 'input' }) as Record<
    string,
    unknown
  >;
  return { name, description: descriptions[name], parameters };
}

export const TOOL_SPECS: ToolSpec[] = (Object.keys(schemas) as ToolName[]).map(specFor);

export interface ToolContext {
  sandbox: Sandbox;
  /** Upper bound for run_command, whatever the model asks for. */
  commandTimeoutMs: number;
  signal: AbortSignal;
}

export type ToolOutcome =
  | { kind: 'result'; content: string; isError: boolean }
  /** The call itself was unusable: unknown tool, arguments not JSON or not matching the schema. */
  | { kind: 'malformed'; content: string }
  | { kind: 'finish'; summary: string };

/** A refusal or failure the model should read and can act on. */
class ToolError extends Error {}

const ok = (content: string): ToolOutcome => ({ kind: 'result', content: clip(content), isError: false });
const fail = (content: string): ToolOutcome => ({ kind: 'result', content: clip(content), isError: true });

function clip(text: string): string {
  return text.length > MAX_RESULT_CHARS ? headAndTail(text, MAX_RESULT_CHARS) : text;
}

/** Keeps the start and the end of a long text; the end of a build or test log is usually what matters. */
export function headAndTail(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  const head = Math.floor(maxChars * 0.4);
  const tail = maxChars - head;
  const omitted = text.length - head - tail;
  return `${text.slice(0, head)}\n[... ${omitted} characters omitted ...]\n${text.slice(text.length - tail)}`;
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(arguments)'}: ${issue.message}`)
    .join('; ');
}

/** Parses and validates a call's arguments; the reason when they are unusable. */
export function parseToolArguments(
  call: ToolCall,
): { ok: true; name: ToolName; args: Record<string, unknown> } | { ok: false; problem: string } {
  if (!Object.hasOwn(schemas, call.name)) {
    return {
      ok: false,
      problem: `There is no tool named "${call.name}". The tools are: ${Object.keys(schemas).join(', ')}.`,
    };
  }
  const name = call.name as ToolName;
  let raw: unknown;
  // Some OpenAI-compatible servers send "" for a call without arguments.
  const text = call.arguments.trim() === '' ? '{}' : call.arguments;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    return {
      ok: false,
      problem:
        `The arguments of ${name} are not valid JSON (${(error as Error).message}). ` +
        'Send a single JSON object matching the tool schema.',
    };
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return { ok: false, problem: `The arguments of ${name} must be a JSON object matching the tool schema.` };
  }
  const parsed = schemas[name].safeParse(raw);
  if (!parsed.success) {
    return { ok: false, problem: `Invalid arguments for ${name}: ${describeIssues(parsed.error)}.` };
  }
  return { ok: true, name, args: parsed.data as Record<string, unknown> };
}

/**
 * Resolves a model-given path against the workspace. Absolute paths must already be inside it,
 * and `..` may not climb out of it.
 */
export function resolveWorkspacePath(workspace: string, path: string | undefined): string {
  const input = (path ?? '').trim() || '.';
  const root = posix.normalize(workspace).replace(/\/+$/, '') || '/';
  const resolved = posix.normalize(posix.isAbsolute(input) ? input : posix.join(root, input)).replace(/(.)\/+$/, '$1');
  if (resolved !== root && !resolved.startsWith(`${root}/`)) {
    throw new ToolError(
      `Refused: "${input}" is outside the repository. Use paths relative to the repository root (${root}).`,
    );
  }
  return resolved;
}

function relative(workspace: string, absolute: string): string {
  return posix.relative(workspace, absolute) || '.';
}

async function exec(context: ToolContext, argv: string[], timeoutMs = FILE_OP_TIMEOUT_MS, maxOutputBytes?: number) {
  return context.sandbox.exec(argv, {
    timeoutMs,
    cwd: context.sandbox.workspace,
    signal: context.signal,
    ...(maxOutputBytes ? { maxOutputBytes } : {}),
  });
}

function stderrOf(result: ExecResult): string {
  return result.stderr.trim() || `exit code ${result.exitCode}`;
}

/** Reads a whole file as text, refusing what cannot be edited safely. */
async function readWhole(context: ToolContext, absolute: string, shown: string): Promise<string> {
  const result = await exec(context, ['cat', '--', absolute], FILE_OP_TIMEOUT_MS, READ_EXEC_BYTES);
  if (result.exitCode !== 0) throw new ToolError(`Cannot read ${shown}: ${stderrOf(result)}`);
  if (result.truncated) {
    throw new ToolError(`${shown} is larger than ${READ_EXEC_BYTES} bytes; change it with run_command instead.`);
  }
  return result.stdout;
}

/** A handler's answer: text, or text flagged as an error the model should notice. */
type HandlerResult = string | { content: string; isError: boolean };
type Handler = (args: never, context: ToolContext) => Promise<HandlerResult>;

const READ_SCRIPT = [
  '[ -e "$1" ] || { echo "no such file" >&2; exit 3; }',
  '[ -d "$1" ] && { echo "it is a directory; use list_files" >&2; exit 4; }',
  'wc -l < "$1"',
  'sed -n "$2,$3p" -- "$1"',
].join('\n');

const handlers: { [K in Exclude<ToolName, 'finish'>]: (args: z.infer<(typeof schemas)[K]>, context: ToolContext) => Promise<HandlerResult> } = {
  async list_files(args, context) {
    const { workspace } = context.sandbox;
    const absolute = resolveWorkspacePath(workspace, args.path);
    const depth = args.depth ?? 2;
    const result = await exec(context, [
      'find',
      absolute,
      '-mindepth',
      '1',
      '-maxdepth',
      String(depth),
      '(',
      '-name',
      '.git',
      '-o',
      '-name',
      'node_modules',
      ')',
      '-prune',
      '-printf',
      '%y\t%P\n',
      '-o',
      '-printf',
      '%y\t%P\n',
    ]);
    const shown = relative(workspace, absolute);
    if (result.exitCode !== 0) throw new ToolError(`Cannot list ${shown}: ${stderrOf(result)}`);
    const entries = result.stdout
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => {
        const [type, path] = line.split('\t') as [string, string];
        return type === 'd' ? `${path}/` : path;
      })
      .sort();
    if (entries.length === 0) return `${shown} is empty (or is a file, not a directory).`;
    const listed = entries.slice(0, MAX_LIST_ENTRIES);
    const more =
      entries.length > listed.length
        ? `\n[${entries.length - listed.length} more entries not shown; list a subdirectory or lower depth]`
        : '';
    return `Contents of ${shown} (depth ${depth}):\n${listed.join('\n')}${more}`;
  },

  async read_file(args, context) {
    const { workspace } = context.sandbox;
    const absolute = resolveWorkspacePath(workspace, args.path);
    const shown = relative(workspace, absolute);
    const start = args.start_line ?? 1;
    const end = Math.min(args.end_line ?? start + MAX_READ_LINES - 1, start + MAX_READ_LINES - 1);
    if (end < start) throw new ToolError(`end_line (${end}) is before start_line (${start}).`);
    const result = await exec(
      context,
      ['sh', '-c', READ_SCRIPT, 'sh', absolute, String(start), String(end)],
      FILE_OP_TIMEOUT_MS,
      READ_EXEC_BYTES,
    );
    if (result.exitCode !== 0) throw new ToolError(`Cannot read ${shown}: ${stderrOf(result)}`);
    const newline = result.stdout.indexOf('\n');
    const total = Number(result.stdout.slice(0, newline).trim());
    const body = result.stdout.slice(newline + 1);
    if (body === '') {
      return start === 1 ? `${shown} is empty.` : `${shown} has only ${total} lines; start_line ${start} is past the end.`;
    }
    const lines = body.replace(/\n$/, '').split('\n');
    const numbered = lines.map((line, index) => {
      const text = line.length > MAX_LINE_CHARS ? `${line.slice(0, MAX_LINE_CHARS)}[... line cut]` : line;
      return `${String(start + index).padStart(6)}\t${text}`;
    });
    const last = start + lines.length - 1;
    // wc -l misses a last line without a newline; never claim fewer lines than were shown.
    const totalLines = Math.max(total, last);
    const note =
      last < totalLines
        ? `\n[showing lines ${start}-${last} of ${totalLines}; read on with start_line=${last + 1}]`
        : '';
    return `${shown} (lines ${start}-${last} of ${totalLines}):\n${numbered.join('\n')}${note}`;
  },

  async search(args, context) {
    const { workspace } = context.sandbox;
    const absolute = resolveWorkspacePath(workspace, args.path);
    const argv = [
      'rg',
      '--line-number',
      '--no-heading',
      '--color',
      'never',
      '--hidden',
      '--glob',
      '!.git',
      '--max-columns',
      '300',
      '--max-columns-preview',
      ...(args.glob ? ['--glob', args.glob] : []),
      '--regexp',
      args.pattern,
    ];
    // Searching the root without a path argument keeps result paths relative ("src/a.ts").
    if (absolute !== posix.normalize(workspace)) argv.push('--', relative(workspace, absolute));
    const result = await exec(context, argv);
    if (result.exitCode === 1) return `No matches for ${JSON.stringify(args.pattern)}.`;
    if (result.exitCode !== 0 && result.stdout === '') {
      throw new ToolError(`Search failed: ${stderrOf(result)}`);
    }
    const lines = result.stdout.split('\n').filter((line) => line !== '');
    const shown = lines.slice(0, MAX_SEARCH_LINES);
    const more =
      lines.length > shown.length || result.truncated
        ? `\n[more matches not shown; narrow the pattern, path or glob]`
        : '';
    return `${shown.join('\n')}${more}`;
  },

  async write_file(args, context) {
    const { workspace } = context.sandbox;
    const absolute = resolveWorkspacePath(workspace, args.path);
    if (absolute === posix.normalize(workspace)) throw new ToolError('write_file needs a file path, not the repository root.');
    await context.sandbox.writeFile(absolute, args.content);
    const lines = args.content === '' ? 0 : args.content.split('\n').length;
    return `Wrote ${relative(workspace, absolute)} (${lines} lines, ${Buffer.byteLength(args.content)} bytes).`;
  },

  async edit_file(args, context) {
    const { workspace } = context.sandbox;
    const absolute = resolveWorkspacePath(workspace, args.path);
    const shown = relative(workspace, absolute);
    if (args.old_string === args.new_string) throw new ToolError('old_string and new_string are the same; nothing to change.');
    const content = await readWhole(context, absolute, shown);
    const occurrences = content.split(args.old_string).length - 1;
    if (occurrences === 0) {
      throw new ToolError(
        `old_string was not found in ${shown}. Read the file again and copy the exact text, including ` +
          'whitespace and indentation (without the line-number prefixes of read_file).',
      );
    }
    if (occurrences > 1 && !args.replace_all) {
      throw new ToolError(
        `old_string occurs ${occurrences} times in ${shown}. Include more surrounding lines to make it unique, ` +
          'or set replace_all to true to replace every occurrence.',
      );
    }
    // split/join, not String.replace: "$&" and friends in new_string must stay literal.
    const updated = content.split(args.old_string).join(args.new_string);
    await context.sandbox.writeFile(absolute, updated);
    return `Edited ${shown}: replaced ${occurrences} occurrence${occurrences === 1 ? '' : 's'}.`;
  },

  async run_command(args, context) {
    const requested = args.timeout_seconds ? args.timeout_seconds * 1000 : context.commandTimeoutMs;
    const timeoutMs = Math.min(requested, context.commandTimeoutMs);
    // The command is one argv element of `bash -c`: it is never spliced into another shell string.
    const result = await exec(context, ['bash', '-c', args.command], timeoutMs);
    const parts: string[] = [];
    if (result.timedOut) {
      parts.push(
        `The command timed out after ${Math.round(timeoutMs / 1000)}s and was killed. ` +
          'Run long commands with a narrower scope, or in the background with their output sent to a file.',
      );
    } else {
      parts.push(`Exit code: ${result.exitCode}`);
    }
    const stdout = result.stdout.trimEnd();
    const stderr = result.stderr.trimEnd();
    parts.push(stdout === '' ? 'stdout: (empty)' : `stdout:\n${headAndTail(stdout, MAX_COMMAND_OUTPUT_CHARS)}`);
    if (stderr !== '') parts.push(`stderr:\n${headAndTail(stderr, MAX_COMMAND_OUTPUT_CHARS)}`);
    if (result.truncated) parts.push('[the sandbox dropped output beyond its per-command limit]');
    return { content: parts.join('\n'), isError: result.timedOut };
  },
};

/** Whether an error means the run as a whole cannot go on (stop, dead sandbox), not just this call. */
function isFatal(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name;
  return name === 'AbortError' || name === 'SandboxStoppedError' || name === 'SandboxExecutorStoppedError';
}

/** Runs one tool call. Never throws for the model's mistakes; throws on stop or a dead sandbox. */
export async function runTool(call: ToolCall, context: ToolContext): Promise<ToolOutcome> {
  const parsed = parseToolArguments(call);
  if (!parsed.ok) return { kind: 'malformed', content: parsed.problem };
  if (parsed.name === 'finish') return { kind: 'finish', summary: (parsed.args as { summary: string }).summary };
  const handler = handlers[parsed.name] as Handler;
  try {
    const result = await handler(parsed.args as never, context);
    return typeof result === 'string' ? ok(result) : { kind: 'result', content: clip(result.content), isError: result.isError };
  } catch (error) {
    if (error instanceof ToolError) return fail(error.message);
    if (isFatal(error) || context.signal.aborted) throw error;
    return fail(`${call.name} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}
