import { Command, CommanderError } from 'commander';
import { errorMessage } from '../errors.js';
import { ApiClient } from './api-client.js';
import { cliEnvironment } from './cli-environment.js';
import { CliError, type CliIo } from './cli-io.js';
import { cacheListCommand, cachePruneCommand } from './commands/cache-commands.js';
import type { CommandContext } from './commands/command-context.js';
import { runCommand } from './commands/run-command.js';
import { serveCommand } from './commands/serve-command.js';
import { listCommand, logsCommand, statusCommand, stopCommand } from './commands/session-commands.js';

export type { CliIo };

const DEFAULT_SERVER = 'http://localhost:7080';

function defaultIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, fetch: globalThis.fetch };
}

/**
 * The `telecoder` command line. `argv` is shaped like process.argv (node, script, arguments...).
 * Resolves the exit code: 0 success, 1 failure (session failed, server unreachable, HTTP error),
 * 2 wrong usage.
 */
export async function main(argv: string[], io: CliIo = defaultIo()): Promise<number> {
  let exitCode = 0;
  const out = (line: string) => void io.stdout.write(`${line}\n`);
  const err = (line: string) => void io.stderr.write(`${line}\n`);

  // The real command line also reads ./.env, as `serve` does (which loads it into process.env
  // itself); an environment handed in (tests, embedding) is taken as it is.
  let settings: NodeJS.ProcessEnv;
  try {
    settings = io.env === process.env ? cliEnvironment({ env: process.env, cwd: process.cwd() }) : io.env;
  } catch (error) {
    err(errorMessage(error));
    return 2;
  }
  const context = (command: Command): CommandContext => {
    const globals = command.optsWithGlobals<{ server: string; token?: string }>();
    const token = globals.token ?? settings.TELECODER_API_TOKEN;
    return {
      client: new ApiClient({ server: globals.server, token: token || undefined, fetch: io.fetch }),
      io,
      out,
      err: (line) => err(`telecoder: ${line}`),
    };
  };

  const program = new Command('telecoder')
    .description('Background coding agent: send a task, get a pull request.')
    .option('--server <url>', 'TeleCoder server (env TELECODER_SERVER)', settings.TELECODER_SERVER || DEFAULT_SERVER)
    .option('--token <token>', 'API token sent as a bearer token (default: env TELECODER_API_TOKEN)')
    .configureOutput({ writeOut: (text) => void io.stdout.write(text), writeErr: (text) => void io.stderr.write(text) })
    .showHelpAfterError('(run `telecoder --help` for usage)')
    .exitOverride();

  program
    .command('run')
    .description('start a task on a repository and stream its progress until it ends')
    .argument('<prompt...>', 'what TeleCoder should do; a trailing "--repo owner/name" inside it also works')
    .option('--repo <repo>', 'owner/name, or a path to a local git repository')
    .option('--agent <name>', 'coding agent to use')
    .option('--model <name>', 'LLM model for the agent')
    .option('--json', 'print the session, its events and the final session as JSON lines')
    .action(async (words: string[], options: { repo?: string; agent?: string; model?: string; json?: boolean }, command: Command) => {
      exitCode = await runCommand(context(command), words, options);
    });

  program
    .command('list')
    .description('list sessions, newest first')
    .option('--limit <n>', 'show at most n sessions')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean; limit?: string }, command: Command) => {
      exitCode = await listCommand(context(command), options);
    });

  program
    .command('status')
    .description("show a session's status and result")
    .argument('<id>', 'session id')
    .option('--json', 'print JSON')
    .action(async (id: string, options: { json?: boolean }, command: Command) => {
      exitCode = await statusCommand(context(command), id, options);
    });

  program
    .command('logs')
    .description("print a session's events (with --follow, keep streaming until it ends)")
    .argument('<id>', 'session id')
    .option('-f, --follow', 'stream new events until the session ends')
    .option('--json', 'print one JSON event per line')
    .action(async (id: string, options: { follow?: boolean; json?: boolean }, command: Command) => {
      exitCode = await logsCommand(context(command), id, options);
    });

  program
    .command('stop')
    .description('stop a session: its sandbox is killed and its LLM call aborted')
    .argument('<id>', 'session id')
    .option('--json', 'print the stopped session as JSON')
    .action(async (id: string, options: { json?: boolean }, command: Command) => {
      exitCode = await stopCommand(context(command), id, options);
    });

  const cache = program
    .command('cache')
    .description("the server's per-repository caches: git mirrors and dependency volumes");

  cache
    .command('list')
    .description("each repository's git mirror and dependency cache, with their sizes")
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      exitCode = await cacheListCommand(context(command), options);
    });

  cache
    .command('prune')
    .description('free the caches of these repositories (of every repository without --repo); exits 1 if any were kept')
    .option('--repo <repo...>', 'owner/name, or a path to a local repository (repeatable)')
    .option('--json', 'print what was pruned and kept as JSON')
    .action(async (options: { repo?: string[]; json?: boolean }, command: Command) => {
      exitCode = await cachePruneCommand(context(command), options);
    });

  program
    .command('serve')
    .description('run the TeleCoder server (configured by environment variables)')
    .action(async () => {
      exitCode = await serveCommand({ io, out });
    });

  try {
    await program.parseAsync(argv, { from: 'node' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has already printed the problem (or the help / version asked for).
      return error.exitCode === 0 ? 0 : 2;
    }
    // Server-side messages (configuration errors from `serve`) may already carry the prefix.
    const message = errorMessage(error).replace(/^telecoder:\s*/, '');
    err(`telecoder: ${message}`);
    return error instanceof CliError ? error.exitCode : 1;
  }
}
