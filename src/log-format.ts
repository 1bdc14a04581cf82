export const LOG_FORMATS = ['pretty', 'json'] as const;
/** LOG_FORMAT: `pretty` lines for a person at a terminal, `json` lines for a log collector. */
export type LogFormat = (typeof LOG_FORMATS)[number];

/**
 * Probot's convention: pretty lines on a terminal, JSON lines anywhere else (a file, a pipe,
 * `docker logs`), where something may parse them.
 */
export function defaultLogFormat(stream: { isTTY?: boolean } = process.stderr): LogFormat {
  return stream.isTTY ? 'pretty' : 'json';
}
