import type { ChildLoggerOptions } from 'pino';
import type { Logger } from '../logger.js';

/**
 * The logger Probot gets: TeleCoder's, with `name` dropped from every child made through it.
 * Probot names its loggers with `child({ name: 'probot' })`, and `octokit`, `github`, `event`
 * below that, while pino appends a child's bindings instead of replacing the parent's: every line
 * would carry "name" once per level ("name":"telecoder",…,"name":"probot"), which JSON parsers
 * silently resolve to the last one and stricter log collectors reject.
 */
export function probotLogger(logger: Logger): Logger {
  const wrapped = Object.create(logger) as Logger;
  const child = (bindings: Record<string, unknown>, options?: ChildLoggerOptions<never>): Logger => {
    const { name: _name, ...rest } = bindings;
    return probotLogger(logger.child(rest, options));
  };
  wrapped.child = child as unknown as Logger['child'];
  return wrapped;
}
