import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import type { SessionEventType } from '../../model/session.js';
import type { Sandbox } from '../../sandbox/runtime.js';
import { readProjectFiles } from '../checks/read-project-files.js';
import { fenceUntrustedData } from '../prompt-templates.js';
import { runChecks, skippedResult, type CheckResult } from '../run-checks.js';
import { SETUP_FILES_TO_READ, VENV_DIR, setupFromFiles, type SetupCommand } from './setup-from-files.js';

export interface SetupOutcome {
  /** `skipped`: nothing to install. `failed`: a command failed, timed out or had no tool. */
  status: 'passed' | 'failed' | 'skipped';
  results: CheckResult[];
  durationMs: number;
  /** Where the commands came from. */
  source: 'detected' | 'repository configuration';
  /** Environment every later command gets (the virtualenv), when setup made one. */
  env: Record<string, string>;
}

export interface SetUpWorkspaceOptions {
  /** The repository's `setupCommands`: when given (even empty) they replace detection. */
  setupCommands?: readonly string[] | undefined;
  /** For all commands together (TELECODER_SETUP_TIMEOUT). */
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  emit(type: SessionEventType, data: unknown): void;
  /**
   * The workspace snapshot of this commit: `prepared` when the sandbox started from one (its
   * dependencies may be installed already), `save` to keep this sandbox as the snapshot once
   * setup passed (before any agent runs).
   */
  snapshot?: { prepared: boolean; save?: (() => Promise<void>) | undefined } | undefined;
}

const SMALL_EXEC_MS = 15_000;
/** What the installed-tree cache prints when it restored node_modules instead of installing. */
const RESTORED = /^node_modules restored from the repository's dependency cache/m;
const RESTORED_NOTE = "node_modules restored from the repository's dependency cache";

/**
 * Installs the project's dependencies in the sandbox, as the sandbox user, before the agent
 * starts. Best effort: a failure is reported (events, and the outcome for the PR body and the
 * agent) and never thrown, because the agent may well be able to fix it. Only a stop or a dead
 * sandbox rejects.
 */
export async function setUpWorkspace(sandbox: Sandbox, options: SetUpWorkspaceOptions): Promise<SetupOutcome> {
  const { signal, emit } = options;
  const started = Date.now();
  const configured = options.setupCommands !== undefined;
  const commands = configured
    ? configuredCommands(options.setupCommands ?? [])
    : setupFromFiles(await readProjectFiles(sandbox, { wanted: SETUP_FILES_TO_READ, signal }));
  const source = configured ? 'repository configuration' : 'detected';
  if (commands.length === 0) {
    const outcome: SetupOutcome = { status: 'skipped', results: [], durationMs: Date.now() - started, source, env: {} };
    emit('setup', { status: 'skipped', durationMs: outcome.durationMs, commands: [] });
    emit('output', configured ? 'Setup: the repository configures no setup commands' : 'Setup: nothing to install (no lockfile or manifest found)');
    return outcome;
  }

  const key = createHash('sha256').update(JSON.stringify(commands.map((command) => command.run ?? command.command))).digest('hex');
  if (options.snapshot?.prepared && (await installedKey(sandbox, signal)) === key) {
    return fromSnapshot(sandbox, commands, { started, source, signal, emit });
  }

  emit('setup', { status: 'running', commands: commands.map((command) => ({ command: command.command })) });
  emit('output', `Setup: ${commands.map((command) => command.name).join(', ')} (${source === 'detected' ? `from ${commands.map((c) => c.source).join(', ')}` : source})`);

  const results: CheckResult[] = [];
  for (const [index, command] of commands.entries()) {
    const left = options.timeoutMs - (Date.now() - started);
    // Configured commands are one script: after a failure the rest would fail for its reason.
    const earlierFailed = configured && results.some((result) => !result.passed);
    if (left <= 0 || earlierFailed) {
      results.push(notRun(command, left <= 0 ? 'not run: the setup time limit (TELECODER_SETUP_TIMEOUT) was used up' : 'not run: an earlier setup command failed'));
      continue;
    }
    const [ran] = await runChecks(sandbox, [{ name: command.name, kind: 'setup', command: command.run ?? command.command, source: command.source }], {
      timeoutMsPerCheck: left,
      signal,
    });
    if (!ran) throw new Error(`setup: running \`${command.command}\` gave no result`);
    // People see the command, not the cache wrapper around it.
    const restored = ran.passed && RESTORED.test(ran.output);
    const result: CheckResult = { ...ran, command: command.command, ...(restored ? { note: RESTORED_NOTE } : {}) };
    results.push(result);
    emit('output', resultLine(result, index, commands.length));
  }

  // Only a Python install makes a virtualenv; anything else saves the probe.
  const env = commands.some((command) => /\bvenv\b|\buv\b/.test(command.command)) || configured ? await virtualenvOf(sandbox, signal) : {};
  if (env.VIRTUAL_ENV) {
    sandbox.setDefaultEnv(env);
    emit('output', `Setup: the virtualenv ${VENV_DIR} is active for every later command`);
  }
  const failed = results.some((result) => !result.passed);
  const durationMs = Date.now() - started;
  if (!failed && options.snapshot?.save) await saveSnapshot(sandbox, key, options.snapshot.save, { signal, emit });
  emit('setup', {
    status: failed ? 'failed' : 'passed',
    durationMs,
    commands: results.map((result) => ({
      command: result.command,
      exitCode: result.exitCode,
      durationMs: result.durationMs,
      passed: result.passed,
      ...(result.note ? { note: result.note } : {}),
    })),
  });
  return { status: failed ? 'failed' : 'passed', results, durationMs, source, env };
}

/** Where a snapshot records which setup it holds: outside the workspace and the cache volume. */
const INSTALLED_MARKER = '/home/sandbox/.telecoder/setup-installed';

async function installedKey(sandbox: Sandbox, signal: AbortSignal | undefined): Promise<string> {
  const read = await sandbox.exec(['cat', INSTALLED_MARKER], { timeoutMs: SMALL_EXEC_MS, maxOutputBytes: 256, signal });
  return read.exitCode === 0 ? read.stdout.trim() : '';
}

/** The sandbox started from a snapshot whose setup is this one: nothing to install. */
async function fromSnapshot(
  sandbox: Sandbox,
  commands: SetupCommand[],
  context: { started: number; source: SetupOutcome['source']; signal: AbortSignal | undefined; emit: SetUpWorkspaceOptions['emit'] },
): Promise<SetupOutcome> {
  const note = 'installed in the workspace snapshot of this commit';
  const results = commands.map((command): CheckResult => ({
    name: command.name,
    command: command.command,
    kind: 'setup',
    source: command.source,
    passed: true,
    exitCode: 0,
    timedOut: false,
    durationMs: 0,
    output: '',
    note,
  }));
  const env = await virtualenvOf(sandbox, context.signal);
  if (env.VIRTUAL_ENV) sandbox.setDefaultEnv(env);
  const durationMs = Date.now() - context.started;
  context.emit('output', `Setup: ${commands.map((command) => command.name).join(', ')} already ${note}`);
  context.emit('setup', {
    status: 'passed',
    durationMs,
    commands: results.map((result) => ({ command: result.command, exitCode: 0, durationMs: 0, passed: true, note })),
  });
  return { status: 'passed', results, durationMs, source: context.source, env };
}

/** Marks what setup installed and keeps the sandbox as its commit's snapshot; a failure only costs speed. */
async function saveSnapshot(
  sandbox: Sandbox,
  key: string,
  save: () => Promise<void>,
  context: { signal: AbortSignal | undefined; emit: SetUpWorkspaceOptions['emit'] },
): Promise<void> {
  const started = Date.now();
  try {
    const marked = await sandbox.exec(['sh', '-c', 'mkdir -p "$(dirname "$1")" && printf %s "$2" > "$1"', 'sh', INSTALLED_MARKER, key], {
      timeoutMs: SMALL_EXEC_MS,
      signal: context.signal,
    });
    if (marked.exitCode !== 0) throw new Error(marked.stderr.trim() || `exit ${marked.exitCode}`);
    await save();
    context.emit('output', `Setup: kept the installed workspace as this commit's snapshot (${Date.now() - started} ms)`);
  } catch (error) {
    if (context.signal?.aborted) throw error;
    context.emit('output', `Setup: could not keep a workspace snapshot (${error instanceof Error ? error.message : String(error)}); later sessions install again`);
  }
}

function configuredCommands(commands: readonly string[]): SetupCommand[] {
  return commands
    .map((command) => command.trim())
    .filter((command) => command !== '')
    .map((command, index) => ({ name: command.split('\n', 1)[0]!.slice(0, 60), command, source: `repository configuration setupCommands[${index}]` }));
}

/** The environment that activates the workspace's virtualenv, or {} when setup made none. */
async function virtualenvOf(sandbox: Sandbox, signal: AbortSignal | undefined): Promise<Record<string, string>> {
  const venv = posix.join(sandbox.workspace, VENV_DIR);
  const probe = await sandbox.exec(['bash', '-c', 'test -x "$1/bin/python" && printf %s "$PATH"', 'bash', venv], {
    timeoutMs: SMALL_EXEC_MS,
    maxOutputBytes: 16 * 1024,
    signal,
  });
  if (probe.exitCode !== 0) return {};
  return { VIRTUAL_ENV: venv, PATH: `${venv}/bin:${probe.stdout.trim() || '/usr/local/bin:/usr/bin:/bin'}` };
}

function resultLine(result: CheckResult, index: number, total: number): string {
  const seconds = `${(result.durationMs / 1000).toFixed(1)} s`;
  const head = `Setup ${index + 1}/${total}: ${result.passed ? '✅' : '❌'} ${result.command} (${seconds})`;
  if (result.passed) return result.note ? `${head}: ${result.note}` : head;
  const why = result.note ?? (result.timedOut ? 'timed out' : `exit ${result.exitCode}`);
  const tail = result.output.trimEnd().split('\n').slice(-30).join('\n');
  return `${head}: ${why}${tail ? `\n${tail}` : ''}`;
}

function notRun(command: SetupCommand, note: string): CheckResult {
  return skippedResult({ name: command.name, kind: 'setup', command: command.command, source: command.source }, note);
}

/** What the agent is told when setup failed: what failed, the end of its output, and that it may fix it. */
export function setupProblemText(outcome: SetupOutcome): string | undefined {
  if (outcome.status !== 'failed') return undefined;
  const failed = outcome.results.filter((result) => !result.passed);
  const lines = [
    'Workspace setup (installing the project\'s dependencies before you started) failed. The dependencies may be missing or ' +
      'incomplete, so commands that need them may fail for that reason. If the task calls for it, you may fix the cause ' +
      '(for example a broken lockfile) and run the install again yourself.',
  ];
  for (const result of failed) {
    const why = result.note ?? (result.timedOut ? 'timed out' : `exit ${result.exitCode}`);
    const tail = result.output.trimEnd().split('\n').slice(-20).join('\n');
    // The command's output is the repository's doing: data for the agent, never instructions.
    lines.push(`- \`${result.command}\`: ${why}${tail ? `\n${fenceUntrustedData('setup_output', tail)}` : ''}`);
  }
  return lines.join('\n');
}
