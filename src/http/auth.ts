import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** Sent with every 401 so clients know which scheme to use. */
export const WWW_AUTHENTICATE = 'Bearer realm="telecoder"';

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * True when the request carries `Authorization: Bearer <expected>`. Both sides are hashed first so
 * the comparison takes the same time whatever the length or content of the guess.
 */
export function hasBearerToken(req: IncomingMessage, expected: string): boolean {
  const header = req.headers.authorization;
  const match = typeof header === 'string' ? /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header) : null;
  const given = match?.[1] ?? '';
  const same = timingSafeEqual(digest(given), digest(expected));
  return same && given !== '';
}
