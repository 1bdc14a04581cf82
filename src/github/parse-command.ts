import { DEFAULT_COMMAND_PREFIX } from './trigger.js';

/**
 * Reads a `/telecoder <instruction>` command at the start of a comment. The prefix must stand as a
 * word (`/telecoderx` is not the command); leading whitespace is allowed; case does not matter.
 * Returns undefined when the text is not the command, else the (trimmed, possibly empty) rest.
 */
export function parseCommand(text: string, prefix: string = DEFAULT_COMMAND_PREFIX): { instruction: string } | undefined {
  const command = prefix.trim() || DEFAULT_COMMAND_PREFIX;
  const start = text.replace(/^\s+/, '');
  if (start.slice(0, command.length).toLowerCase() !== command.toLowerCase()) return undefined;
  const rest = start.slice(command.length);
  if (rest !== '' && !/^\s/.test(rest)) return undefined;
  return { instruction: rest.trim() };
}
