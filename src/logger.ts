import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/**
 * Request headers that carry credentials. Probot logs every HTTP request with its headers
 * (pino-http), so without this the API's bearer token would be written to the log.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-hub-signature"]',
  'req.headers["x-hub-signature-256"]',
  'res.headers["set-cookie"]',
];

/** The one logger factory: JSON lines on stderr, level from LOG_LEVEL. Tests pass `silent`. */
export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info', destination: DestinationStream = pino.destination(2)): Logger {
  return pino({ name: 'telecoder', level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, destination);
}
