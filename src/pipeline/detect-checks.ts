import type { Sandbox } from '../sandbox/runtime.js';
import { FILES_TO_READ, checksFromFiles, type DetectedCheck, type DetectedCheckKind } from './checks/checks-from-files.js';
import { readProjectFiles } from './checks/read-project-files.js';

export { CHECK_KIND_ORDER, MAX_DETECTED_CHECKS, type DetectedCheck, type DetectedCheckKind } from './checks/checks-from-files.js';

/** A check about to run: detected, configured, or a setup command that runs before the checks. */
export interface PlannedCheck {
  name: string;
  kind: DetectedCheckKind | 'setup';
  /** Run as the single argument of `bash -c` in the workspace. */
  command: string;
  source: string;
}

/** The part of a repository's configuration (`.github/telecoder.yml`) that decides the checks. */
export interface ChecksOverride {
  /** When given (even empty), these replace detection. */
  testCommands?: readonly string[];
  /** Run before the checks, in order (install dependencies, …). */
  setupCommands?: readonly string[];
}

/**
 * Finds the project's own checks (tests, linters, type checks, builds) by reading its files in the
 * sandbox. The files are untrusted: anything unreadable, oversized or malformed yields no check
 * rather than an error. Sandbox failures and aborts do reject.
 */
export async function detectChecks(sandbox: Sandbox, options: { signal?: AbortSignal } = {}): Promise<DetectedCheck[]> {
  const project = await readProjectFiles(sandbox, { wanted: FILES_TO_READ, signal: options.signal });
  return checksFromFiles(project);
}

const NAME_LENGTH = 60;

/**
 * What to run: the repository's `testCommands` instead of detection when it has them, after its
 * `setupCommands`. Blank commands are dropped.
 */
export function resolveChecks(detected: readonly DetectedCheck[], override?: ChecksOverride): PlannedCheck[] {
  const setup = commandsOf(override?.setupCommands).map(
    (command, index): PlannedCheck => ({ name: shortName(command), kind: 'setup', command, source: `repository configuration setupCommands[${index}]` }),
  );
  const checks: PlannedCheck[] =
    override?.testCommands === undefined
      ? detected.map((check) => ({ ...check }))
      : commandsOf(override.testCommands).map((command, index) => ({
          name: shortName(command),
          kind: 'test',
          command,
          source: `repository configuration testCommands[${index}]`,
        }));
  return [...setup, ...checks];
}

function commandsOf(commands: readonly string[] | undefined): string[] {
  return (commands ?? []).map((command) => command.trim()).filter((command) => command !== '');
}

function shortName(command: string): string {
  const firstLine = command.split('\n', 1)[0] ?? command;
  return firstLine.length > NAME_LENGTH || firstLine !== command ? `${firstLine.slice(0, NAME_LENGTH - 1)}…` : firstLine;
}
