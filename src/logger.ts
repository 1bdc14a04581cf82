import { pino, type Logger } from 'pino';

export type { Logger };

/** The one logger factory: JSON lines on stderr, level from LOG_LEVEL. Tests pass `silent`. */
export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ name: 'telecoder', level }, pino.destination(2));
}
