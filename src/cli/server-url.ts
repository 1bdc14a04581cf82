import { UsageError } from './cli-io.js';

/**
 * The server address as a URL. `127.0.0.1:7080` or `localhost:7080` (no scheme) means http, as
 * TELECODER_ADDR is written; anything else must be an http(s) URL.
 */
export function serverUrl(text: string): string {
  const trimmed = text.trim();
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `http://${trimmed}`;
  let url: URL | undefined;
  try {
    url = new URL(withScheme);
  } catch {
    url = undefined;
  }
  if (!url || !['http:', 'https:'].includes(url.protocol) || url.hostname === '') {
    throw new UsageError(`--server expects the server's URL, like http://127.0.0.1:7080 (got "${text}")`);
  }
  return url.href.replace(/\/+$/, '');
}
