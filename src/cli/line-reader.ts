import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';

export interface LineReader {
  /** Writes `prompt` and resolves the next line; undefined once the input has ended (Ctrl-D). */
  ask(prompt: string, options?: { secret?: boolean }): Promise<string | undefined>;
  /** Ctrl-C typed at the terminal (readline takes it from the process there). */
  onInterrupt(listener: () => void): void;
  close(): void;
}

/**
 * Lines from a terminal or a pipe, one question at a time. Lines are taken from readline's async
 * iterator, which keeps what arrives before it is asked for: piped input comes all at once, and
 * `question()` would drop every line that arrives while nobody is asking. On a terminal a secret's
 * echo is swallowed, so a key typed in never shows on the screen.
 */
export function createLineReader(options: {
  input: NodeJS.ReadableStream & { isTTY?: boolean };
  output: { write(text: string): unknown };
}): LineReader {
  const terminal = Boolean(options.input.isTTY);
  let muted = false;
  const echo = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      if (!muted) options.output.write(chunk.toString());
      callback();
    },
  });
  const rl = createInterface({ input: options.input, output: echo, terminal });
  // Piped input may have ended (and readline closed) while lines are still queued here: they
  // are yielded first, then the end.
  const lines = rl[Symbol.asyncIterator]();
  return {
    async ask(prompt, askOptions = {}) {
      options.output.write(prompt);
      muted = Boolean(askOptions.secret) && terminal;
      try {
        const next = await lines.next();
        return next.done ? undefined : next.value;
      } finally {
        if (muted) options.output.write('\n');
        muted = false;
      }
    },
    onInterrupt(listener) {
      rl.on('SIGINT', listener);
    },
    close() {
      rl.close();
    },
  };
}
