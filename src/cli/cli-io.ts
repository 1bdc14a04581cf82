/** Everything the CLI touches outside itself, so tests can run it in-process. */
export interface CliIo {
  stdout: { write(text: string): unknown };
  /** isTTY: a person is watching, so `run` and `chat` draw a live elapsed time there. */
  stderr: { write(text: string): unknown; isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  fetch: typeof globalThis.fetch;
  /** Base for relative repository paths; defaults to process.cwd(). */
  cwd?: string;
  /** What `chat` and `config setup` read lines from; default process.stdin. */
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
  /** Calls `listener` on Ctrl-C (SIGINT) until the returned function is called. */
  onInterrupt?(listener: () => void): () => void;
  /** How long an event stream may be silent (the server pings every 15 s) before it is reopened. */
  streamIdleMs?: number;
}

/** A failure the CLI reports in one line, with the exit code it ends with. */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/** Wrong use of the command line: exit code 2. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, 2);
    this.name = 'UsageError';
  }
}
