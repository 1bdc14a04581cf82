import { main, type CliIo } from '../../src/cli/main.js';

/**
 * Runs the real CLI's `main()` in this process against `server`, from `cwd`, with an empty
 * environment, and returns what it printed and its exit code.
 */
export async function runCliInProcess(options: { server: string; cwd: string }, ...args: string[]) {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env: {},
    fetch,
    cwd: options.cwd,
  };
  const code = await main(['node', 'telecoder', '--server', options.server, ...args], io);
  return { code, stdout, stderr };
}
