import ms from 'ms';
import { UsageError } from './cli-io.js';

/** "30s", "2m", or a plain number of seconds, as the server's durations are written. */
export function parseTimeout(text: string, source: string): number {
  const trimmed = text.trim();
  const parsed = /^\d+(\.\d+)?$/.test(trimmed) ? Number(trimmed) * 1000 : ms(trimmed as ms.StringValue);
  if (typeof parsed !== 'number' || !Number.isFinite(parsed) || parsed <= 0) {
    throw new UsageError(`${source} must be a duration like 30s or 2m (got "${text}")`);
  }
  return parsed;
}
