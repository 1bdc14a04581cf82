import { Command, CommanderError } from 'commander';
import { errorMessage } from '../errors.js';
import { ApiClient } from './api-client.js';
import { cliEnvironment, environmentWithDotEnv } from './cli-environment.js';
import { CliError, type CliIo } from './cli-io.js';
import { cacheListCommand, cachePruneCommand } from './commands/cache-commands.js';
import { pruneCommand } from './commands/prune-command.js';
import { chatCommand } from './commands/chat-command.js';
import {
  configPathCommand,
  configSetCommand,
  configShowCommand,
  configUnsetCommand,
  type ConfigContext,
} from './commands/config-commands.js';
import { configSetupCommand } from './commands/config-setup.js';
import type { CommandContext } from './commands/command-context.js';
import { runCommand } from './commands/run-command.js';
import { serveCommand } from './commands/serve-command.js';
import { diffCommand, listCommand, logsCommand, statusCommand, stopCommand } from './commands/session-commands.js';
import { settableKeys } from './config-keys.js';
import { createLineReader } from './line-reader.js';
import { packageVersion } from './package-version.js';
import { parseTimeout } from './parse-timeout.js';
import { serverUrl } from './server-url.js';

export type { CliIo };

const DEFAULT_SERVER = 'http://localhost:7080';

function defaultIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    fetch: globalThis.fetch,
    stdin: process.stdin,
    onInterrupt(listener) {
      process.on('SIGINT', listener);
      return () => void process.off('SIGINT', listener);
    },
  };
}

/**
 * The `telecoder` command line. `argv` is shaped like process.argv (node, script, arguments...).
 * Resolves the exit code: 0 success, 1 failure (session failed, server unreachable, HTTP error),
 * 2 wrong usage, 130 interrupted by Ctrl-C.
 */
export async function main(argv: string[], io: CliIo = defaultIo()): Promise<number> {
  let exitCode = 0;
  const out = (line: string) => void io.stdout.write(`${line}\n`);
  const err = (line: string) => void io.stderr.write(`${line}\n`);

  // The real command line also reads ./.env, as `serve` does (which loads it into process.env
  // itself); an environment handed in (tests, embedding) is taken as it is.
  // The config file (`telecoder config`) comes third, after the environment and ./.env.
  let settings: NodeJS.ProcessEnv;
  let withoutConfigFile: NodeJS.ProcessEnv;
  try {
    const real = io.env === process.env;
    withoutConfigFile = real ? environmentWithDotEnv(process.env, process.cwd()) : io.env;
    settings = real ? cliEnvironment({ env: process.env, cwd: process.cwd() }) : io.env;
  } catch (error) {
    err(errorMessage(error));
    return 2;
  }
  const context = (command: Command): CommandContext => {
    const globals = command.optsWithGlobals<{ server: string; token?: string; timeout?: string }>();
    const token = globals.token ?? settings.TELECODER_API_TOKEN;
    const timeout = globals.timeout ?? settings.TELECODER_TIMEOUT;
    return {
      client: new ApiClient({
        server: serverUrl(globals.server),
        token: token || undefined,
        fetch: io.fetch,
        ...(timeout ? { timeoutMs: parseTimeout(timeout, globals.timeout ? '--timeout' : 'TELECODER_TIMEOUT') } : {}),
      }),
      io,
      out,
      err: (line) => err(`telecoder: ${line}`),
    };
  };
  const configContext = (): ConfigContext => ({ env: withoutConfigFile, out, err: (line) => err(`telecoder: ${line}`) });

  const program = new Command('telecoder')
    .description('Background coding agent: send a task, get a pull request.')
    .option('--server <url>', 'TeleCoder server URL; host:port means http:// (env TELECODER_SERVER)', settings.TELECODER_SERVER || DEFAULT_SERVER)
    .option('--token <token>', 'API token sent as a bearer token (default: env TELECODER_API_TOKEN)')
    .option('--timeout <duration>', 'how long to wait for the server to answer a request, like 30s or 2m (env TELECODER_TIMEOUT; default 30s)')
    .version(packageVersion(), '-V, --version', "print TeleCoder's version")
    .configureOutput({ writeOut: (text) => void io.stdout.write(text), writeErr: (text) => void io.stderr.write(text) })
    .showHelpAfterError('(run `telecoder --help` for usage)')
    .exitOverride();

  program
    .command('run')
    .description('start a task on a repository and stream its progress until it ends')
    .argument('<prompt...>', 'what TeleCoder should do; a trailing "--repo owner/name" inside it also works')
    .option('--repo <repo>', 'owner/name, or a path to a local git repository')
    .option('--agent <name>', 'coding agent: builtin, claude-code, opencode, codex or auto (default: the server\'s)')
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
    .command('diff')
    .description("print a session's change as a unified diff (a live chat's so far, otherwise what it pushed)")
    .argument('<id>', 'session id')
    .action(async (id: string, _options: unknown, command: Command) => {
      exitCode = await diffCommand(context(command), id);
    });

  program
    .command('stop')
    .description('stop a session: its sandbox is killed and its LLM call aborted')
    .argument('<id>', 'session id')
    .option('--json', 'print the stopped session as JSON')
    .action(async (id: string, options: { json?: boolean }, command: Command) => {
      exitCode = await stopCommand(context(command), id, options);
    });

  program
    .command('chat')
    .description('chat with the agent about a repository: each line is a message; /pr opens the pull request, /stop ends the chat')
    .argument('[message...]', 'the first message (otherwise the first line typed)')
    .option('--repo <repo>', 'owner/name, or a path to a local git repository')
    .option('--agent <name>', 'coding agent: builtin, claude-code, opencode, codex or auto (default: the server\'s)')
    .option('--model <name>', 'LLM model for the agent')
    .action(async (words: string[], options: { repo?: string; agent?: string; model?: string }, command: Command) => {
      exitCode = await chatCommand(context(command), words, options);
    });

  const config = program
    .command('config')
    .description(`settings saved in the data dir's config.env (mode 0600), read by \`serve\` and the CLI after the environment and ./.env`);

  config
    .command('setup')
    .description('ask for the LLM provider and key, GITHUB_TOKEN and (optionally) TELECODER_API_TOKEN, and save them')
    .action(async () => {
      const reader = createLineReader({ input: io.stdin ?? process.stdin, output: io.stdout });
      try {
        exitCode = await configSetupCommand({ ...configContext(), reader });
      } finally {
        reader.close();
      }
    });

  config
    .command('set')
    .description('save one setting')
    .argument('<key>', 'a setting name, like ANTHROPIC_API_KEY')
    .argument('<value>', 'its value')
    .addHelpText('after', `\nSettings: ${settableKeys().join(', ')}`)
    .action((key: string, value: string) => {
      exitCode = configSetCommand(configContext(), key, value);
    });

  config
    .command('unset')
    .description('remove one setting')
    .argument('<key>', 'a setting name')
    .action((key: string) => {
      exitCode = configUnsetCommand(configContext(), key);
    });

  config
    .command('show')
    .description('print the saved settings, secrets masked')
    .action(() => {
      exitCode = configShowCommand(configContext(), { environment: withoutConfigFile });
    });

  config
    .command('path')
    .description("print the config file's path")
    .action(() => {
      exitCode = configPathCommand(configContext());
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
    .command('prune')
    .description(
      "remove a local repository's merged or abandoned telecoder/* branches, saying what it removed and kept " +
        '(local repositories only: on GitHub, let merged pull requests delete their branches)',
    )
    .requiredOption('--repo <path>', 'the local repository (a path; the server must be able to reach it)')
    .option('--dry-run', 'say what would be removed; remove nothing')
    .option('--include-delivered', 'also remove branches whose session delivered them but that are not merged')
    .option('--json', 'print what was removed and kept as JSON')
    .addHelpText(
      'after',
      [
        '',
        'Removed: branches merged into the default branch (their tip is in its history), and abandoned ones',
        "(their session ended in error or was stopped, or no session in the server's store names them).",
        'Kept: a branch a session still runs on, and one a session delivered that is not merged',
        '(unless --include-delivered). Exits 1 when a branch could not be removed (e.g. it is checked out).',
      ].join('\n'),
    )
    .action(async (options: { repo: string; dryRun?: boolean; includeDelivered?: boolean; json?: boolean }, command: Command) => {
      exitCode = await pruneCommand(context(command), options);
    });

  program
    .command('serve')
    .description('run the TeleCoder server (configured by the environment, then ./.env, then `telecoder config`)')
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
