import { pino, type DestinationStream, type Logger } from 'pino';
import PinoPretty from 'pino-pretty';
import { defaultLogFormat, type LogFormat } from './log-format.js';

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

/**
 * The one logger factory: lines on stderr (or `destination`), level from LOG_LEVEL. Tests pass
 * `silent`. JSON lines unless `format` says pretty; without a destination the format follows
 * stderr (pretty on a terminal).
 */
export function createLogger(
  level: string = process.env.LOG_LEVEL ?? 'info',
  destination?: DestinationStream,
  format: LogFormat = destination ? 'json' : defaultLogFormat(),
): Logger {
  const options = { name: 'telecoder', level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } };
  if (format === 'json') return pino(options, destination ?? pino.destination(2));
  // In this thread and synchronous, like pino.destination(2): the last lines before an exit are kept.
  const pretty = PinoPretty({
    destination: destination ?? 2,
    sync: true,
    colorize: destination === undefined && Boolean(process.stderr.isTTY),
    ignore: 'pid,hostname',
    translateTime: 'SYS:HH:MM:ss',
  });
  return pino(options, pretty);
}
