import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../../src/server/package-root.js';

/** The built CLI (bin/telecoder.js runs dist/), as a user's shell runs it. */
export const CLI_BIN = join(packageRoot(), 'bin', 'telecoder.js');

export interface CliProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves once stdout or stderr holds `text`; rejects if the process ends first. */
  waitForOutput(text: string): Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

export interface CliProcessOptions {
  cwd: string;
  /** The whole environment besides PATH (HOME defaults to cwd, so no real config file is read). */
  env?: Record<string, string>;
  /** Written to stdin, which is then closed; without it stdin is closed at once (unless openStdin). */
  input?: string;
  /** Keep stdin open for the test to write to (child.stdin). */
  openStdin?: boolean;
  /** Run through `script` so stdin, stdout and stderr are a terminal. */
  tty?: boolean;
}

/** Starts `telecoder <args>` in a child process. */
export function spawnCli(args: string[], options: CliProcessOptions): CliProcess {
  const env = { PATH: process.env.PATH ?? '', HOME: options.cwd, ...options.env };
  const command = [process.execPath, CLI_BIN, ...args];
  const quoted = command.map((part) => `'${part.replaceAll("'", "'\\''")}'`).join(' ');
  // util-linux `script` gives the command a pseudo-terminal (what a person's shell has).
  const child = options.tty
    ? spawn('script', ['-qfec', quoted, '/dev/null'], { cwd: options.cwd, env, stdio: ['pipe', 'pipe', 'pipe'] })
    : spawn(command[0]!, command.slice(1), { cwd: options.cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const watchers: Array<{ text: string; resolve: () => void }> = [];
  const check = () => {
    for (const watcher of watchers.filter((w) => stdout.includes(w.text) || stderr.includes(w.text))) {
      watchers.splice(watchers.indexOf(watcher), 1);
      watcher.resolve();
    }
  };
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
    check();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
    check();
  });
  if (options.input !== undefined) child.stdin!.end(options.input);
  else if (!options.tty && !options.openStdin) child.stdin!.end();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    waitForOutput: (text) =>
      stdout.includes(text) || stderr.includes(text)
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            watchers.push({ text, resolve });
            void exited.then(() => reject(new Error(`telecoder ${args.join(' ')} ended without writing "${text}":\n${stdout}\n${stderr}`)));
          }),
    exited,
  };
}

/** Runs `telecoder <args>` to its end. */
export function runCli(args: string[], options: CliProcessOptions) {
  return spawnCli(args, options).exited;
}
