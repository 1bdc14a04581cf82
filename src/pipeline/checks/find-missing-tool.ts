import { posix } from 'node:path';

/** What the shell exits with when it cannot find the command. */
const COMMAND_NOT_FOUND_EXIT = 127;

/** `bash: line 1: go: command not found`, `sh: 1: jest: not found`. */
const NOT_FOUND = /^[^\n]*?([^\s:]+): (?:command )?not found[ \t]*\r?$/m;
/** `bash: line 1: ./node_modules/.bin/eslint: No such file or directory` (only meaningful with exit 127). */
const NO_SUCH_FILE = /^[^\n]*?([^\s:]+): No such file or directory[ \t]*\r?$/m;
/** `/usr/bin/python3: No module named pytest`: the interpreter's own message for `python -m`. */
const NO_PYTHON_MODULE = /^\S*python[\d.]*: No module named ([\w.-]+)[ \t]*\r?$/m;
/** make reports a recipe whose program is missing as `make: *** [Makefile:2: test] Error 127`. */
const MAKE_ERROR_127 = /^make(?:\[\d+\])?: \*\*\* .*Error 127[ \t]*\r?$/m;
/** `make: pytest: No such file or directory` */
const MAKE_NO_SUCH_FILE = /^make(?:\[\d+\])?: ([^\s:]+): No such file or directory[ \t]*\r?$/m;
/** npx refusing to fetch a package that is not installed (npm 7+: "npm ERR!", npm 10+: "npm error"). */
const NPX_NOT_INSTALLED = /^npm (?:ERR!|error) (?:canceled|code (?:ENOTCACHED|EAI_AGAIN|ENOTFOUND|ENETUNREACH|ECONNREFUSED|E404)|could not determine executable to run)/m;

/** Corepack could not download the package manager the shim stands for (no network, say). */
const COREPACK_DOWNLOAD = /Error when performing the request to https?:\/\/\S+?\/(pnpm|yarn|npm)\/-\//;

/**
 * The tool a failed check could not run because it is not installed, or undefined when the check
 * ran and failed on its own. This is what lets a caller treat "no pytest in the sandbox" as a
 * skipped check instead of a failure of the code.
 */
export function findMissingTool(command: string, exitCode: number, output: string): string | undefined {
  if (exitCode === 0) return undefined;
  const python = NO_PYTHON_MODULE.exec(output);
  if (python?.[1]) return python[1];
  const corepack = COREPACK_DOWNLOAD.exec(output);
  if (corepack?.[1]) return corepack[1];
  if (exitCode === COMMAND_NOT_FOUND_EXIT) {
    // Without the shell's message this is just a program that chose to exit 127.
    const tool = NOT_FOUND.exec(output)?.[1] ?? NO_SUCH_FILE.exec(output)?.[1];
    if (tool) return posix.basename(tool);
  }
  if (MAKE_ERROR_127.test(output)) {
    const tool = MAKE_NO_SUCH_FILE.exec(output)?.[1] ?? NOT_FOUND.exec(output)?.[1];
    if (tool) return posix.basename(tool);
  }
  const npx = /^npx\s+(?:-\S+\s+)*([^\s-]\S*)/.exec(command.trim());
  if (npx?.[1] && NPX_NOT_INSTALLED.test(output)) return npx[1];
  return undefined;
}
