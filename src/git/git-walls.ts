/**
 * The git walls: config given on the command line of every git command TeleCoder runs, on the
 * server (runGit) and in the sandbox (extracting a change, checkpoints, the checkout). Command-line
 * config outranks every config file, so what an agent writes into a .git/config (its own in the
 * sandbox, or one it hopes the server reads) cannot turn on a hook, an fsmonitor, a credential
 * helper or another protocol, nor reshape the patch the server parses.
 *
 * One list, used everywhere: a wall added here holds for every git TeleCoder runs.
 */
export const GIT_WALL_CONFIG: readonly string[] = [
  // Nothing from the repository runs: no hooks, no fsmonitor daemon.
  'core.hooksPath=/dev/null',
  'core.fsmonitor=false',
  // Only the transports TeleCoder uses (never ext::, fd::, ssh with a planted command …).
  'protocol.allow=never',
  'protocol.https.allow=always',
  'protocol.http.allow=always',
  'protocol.file.allow=always',
  // No credential reaches git except the one passed in the environment for one command.
  'credential.helper=',
  'commit.gpgSign=false',
  'core.symlinks=true',
  // Paths that some file systems would read as .git (".GIT", ".git.", "git~1", HFS ignorables)
  // are refused by git itself wherever it writes an index entry.
  'core.protectNTFS=true',
  'core.protectHFS=true',
  // The patch's shape is git's default, whatever the agent configured: a/ and b/ prefixes, paths
  // from the top, quoted when unusual. The server parses nothing else.
  'diff.noprefix=false',
  'diff.mnemonicPrefix=false',
  'diff.relative=false',
  'core.quotePath=true',
];

/** The walls as git arguments: `-c key=value` pairs, to go right after `git`. */
export const GIT_WALL_ARGS: readonly string[] = GIT_WALL_CONFIG.flatMap((entry) => ['-c', entry]);

/** argv for git in the sandbox, walls included. */
export function sandboxGit(...args: string[]): string[] {
  return ['git', ...GIT_WALL_ARGS, ...args];
}

/**
 * Environment for git in the sandbox: no prompt that could wait forever, no pager, messages in
 * English (errors are read back and shown).
 */
export const SANDBOX_GIT_ENV: Readonly<Record<string, string>> = { GIT_TERMINAL_PROMPT: '0', GIT_PAGER: 'cat', LC_ALL: 'C' };
