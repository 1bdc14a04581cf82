import { z } from 'zod';

export interface UrlVariableOptions {
  /** A right value, shown in the message. */
  example: string;
  /** Schemes allowed besides http: and https: (TELECODER_GIT_URL: file:, a directory of bare repositories). */
  extraProtocols?: readonly string[];
}

/**
 * An optional URL-valued variable: unset or blank is undefined; anything else must be an http(s)
 * URL without spaces. A note written after the value (`OPENAI_BASE_URL=http://host/v1   (Ollama)`
 * in a .env file) would otherwise still parse, its spaces percent-encoded into the path, and fail
 * only at the first request, far from its cause.
 */
export function urlVariable(name: string, options: UrlVariableOptions) {
  const protocols = ['http:', 'https:', ...(options.extraProtocols ?? [])];
  return z
    .string()
    .optional()
    .transform((value, ctx) => {
      const text = value?.trim();
      if (!text) return undefined;
      const problem = urlProblem(text, protocols);
      if (problem) {
        const notes = /\s/.test(text) ? ', and put any note on a # line of its own' : '';
        ctx.addIssue({ code: 'custom', message: `${name} ${problem} (got "${text}"): set it to the URL alone, like ${options.example}${notes}` });
        return z.NEVER;
      }
      return text;
    });
}

function urlProblem(text: string, protocols: readonly string[]): string | undefined {
  if (/\s/.test(text)) return 'has spaces in it';
  const schemes = protocols.map((protocol) => `${protocol}//`).join(' or ');
  // "api.example.com/v1" (no scheme) is the likeliest slip; say what is missing rather than "not a URL".
  if (!/^[a-z][a-z0-9+.-]*:/i.test(text)) return `must start with ${schemes}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'is not a URL';
  }
  if (!protocols.includes(url.protocol)) return `must start with ${schemes}`;
  if (url.protocol !== 'file:' && !url.hostname) return 'has no host name';
  return undefined;
}

/** GHE_HOST: a host name (and port) that TeleCoder and Probot put into URLs, so no scheme or path. */
export function hostVariable(name: string, example: string) {
  return z
    .string()
    .optional()
    .transform((value, ctx) => {
      const text = value?.trim();
      if (!text) return undefined;
      const host = text.replace(/\/+$/, '');
      if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(host)) {
        ctx.addIssue({
          code: 'custom',
          message: `${name} must be a host name alone, like ${example}, without https:// or a path (got "${text}")`,
        });
        return z.NEVER;
      }
      return host;
    });
}
