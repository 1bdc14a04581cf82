import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from '../../src/server/free-port.js';

export interface ServerProcess {
  /** http://127.0.0.1:PORT */
  url: string;
  child: ChildProcess;
  /** How the process ended: an exit code, or the signal that killed it. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything it wrote to stdout and stderr so far (for failure messages). */
  output(): string;
  /** Resolves as soon as the output holds `text` (at once if it already does); rejects if the process ends first. */
  waitForOutput(text: string): Promise<void>;
  /** SIGKILL, unless it has already ended; resolves when it has. */
  kill(): Promise<void>;
}

export interface ServerProcessOptions {
  /** The CLI to run with `serve` (TranspiledSources.cli). */
  cli: string;
  /** The server's whole environment; TELECODER_ADDR is set here to a free port. */
  env: NodeJS.ProcessEnv;
  /** Default 60 s: a loaded machine starts a Node process slowly. */
  startTimeoutMs?: number;
  /** The directory it runs in (where it reads ./.env); default the test's. */
  cwd?: string;
}

/**
 * Runs `telecoder serve` in a child process, the way an operator does, and resolves once it
 * answers /health. A test may then kill it with SIGKILL (nothing runs on the way out) or send
 * SIGTERM (the drain a `docker stop` asks for).
 */
export async function startServerProcess(options: ServerProcessOptions): Promise<ServerProcess> {
  const port = await freePort('127.0.0.1');
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [options.cli, 'serve'], {
    env: { ...options.env, TELECODER_ADDR: `127.0.0.1:${port}` },
    ...(options.cwd ? { cwd: options.cwd } : {}),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const watchers: Array<{ text: string; resolve: () => void }> = [];
  const keep = (chunk: Buffer) => {
    // The tail is what explains a failure; a chatty server must not fill the test's memory.
    output = (output + chunk.toString('utf8')).slice(-64 * 1024);
    for (const watcher of watchers.filter((w) => output.includes(w.text))) {
      watchers.splice(watchers.indexOf(watcher), 1);
      watcher.resolve();
    }
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const server: ServerProcess = {
    url,
    child,
    exited,
    output: () => output,
    waitForOutput: (text) =>
      output.includes(text)
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            watchers.push({ text, resolve });
            void exited.then(() => reject(new Error(`telecoder serve ended without writing "${text}":\n${output}`)));
          }),
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };

  const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
  let ended = false;
  void exited.then(() => (ended = true));
  for (;;) {
    if (await fetch(`${url}/health`).then((response) => response.ok, () => false)) return server;
    if (ended) throw new Error(`telecoder serve exited before it listened:\n${output}`);
    if (Date.now() > deadline) {
      await server.kill();
      throw new Error(`telecoder serve did not answer /health within ${options.startTimeoutMs ?? 60_000} ms:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
