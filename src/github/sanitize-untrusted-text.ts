import { decodeHtmlEntities } from './decode-html-entities.js';
import { PLACEHOLDER_CLOSE, PLACEHOLDER_OPEN, protectFencedCode } from './protect-fenced-code.js';
import {
  removeHiddenElements,
  resolveReferenceLinks,
  stripHiddenAttributes,
  stripHtmlComments,
  stripLinkTitles,
  stripMarkdownImageAlt,
} from './strip-hidden-markup.js';
import { stripInvisibleCharacters } from './strip-invisible-characters.js';

export const DEFAULT_UNTRUSTED_TEXT_LENGTH = 20_000;

export interface SanitizeOptions {
  /** Longest text kept, in UTF-16 code units; a note says when text was cut. Default 20,000. */
  maxLength?: number;
}

/** Everything the reader of the issue cannot see, removed from text outside code blocks. */
function stripHidden(text: string): string {
  let result = stripInvisibleCharacters(text);
  result = stripHtmlComments(result);
  result = removeHiddenElements(result);
  result = stripHiddenAttributes(result);
  result = stripMarkdownImageAlt(result);
  result = stripLinkTitles(result);
  return resolveReferenceLinks(result);
}

/** Cuts at `length` without splitting a surrogate pair. */
function cut(text: string, length: number): string {
  const end = length > 0 && /[\uD800-\uDBFF]/.test(text.charAt(length - 1)) ? length - 1 : length;
  return text.slice(0, end);
}

/**
 * Prepares issue and comment text written by anyone for a prompt: what GitHub shows a reader is
 * kept, what it hides is removed, so no instruction can ride along unseen. In order:
 *
 * 1. Oversized input is cut first (5× `maxLength`), so a 25 MB body costs no more than a big one.
 * 2. Fenced code blocks are set aside (see `protectFencedCode`): only invisible characters are
 *    removed from them.
 * 3. Everywhere else: invisible, bidirectional and control characters; HTML comments (also
 *    unterminated); hidden elements (`hidden`, `display:none`, …) with their content; `alt`,
 *    `title`, `placeholder`, `style`, `data-*` and `aria-*` attributes; markdown image alt text
 *    (`![image](url)`); link titles; link reference definitions nobody sees.
 * 4. HTML entities are decoded once and step 3 runs again, so `&#x200B;` or `&lt;!-- … --&gt;`
 *    cannot smuggle what step 3 removes. (A literal `&lt;!-- x --&gt;` was visible on GitHub and
 *    goes too: removing a little visible text is the safe side.)
 * 5. The result is cut to `maxLength`, with a note saying so.
 *
 * Kept on purpose: `<details>` content (one click shows it), text in inline code spans is cleaned
 * like prose (a literal `<!--` there still removes what follows).
 */
export function sanitizeUntrustedText(text: string, options: SanitizeOptions = {}): string {
  const maxLength = Math.max(0, Math.floor(options.maxLength ?? DEFAULT_UNTRUSTED_TEXT_LENGTH));
  const source = typeof text === 'string' ? text : '';
  const hardCap = Math.max(maxLength * 5, 1_000);
  let wasCut = source.length > hardCap;

  // The placeholder markers are reserved; a visible replacement keeps line structure the same.
  const input = cut(source, hardCap)
    .replace(/\r\n?/g, '\n')
    .replaceAll(PLACEHOLDER_OPEN, '\uFFFD')
    .replaceAll(PLACEHOLDER_CLOSE, '\uFFFD');
  const code = protectFencedCode(input);
  const cleaned = stripHidden(decodeHtmlEntities(stripHidden(code.text)));
  let result = code.restore(cleaned).trim();

  if (result.length > maxLength) {
    result = cut(result, maxLength).trimEnd();
    wasCut = true;
  }
  if (!wasCut) return result;
  return `${result}\n\n[TeleCoder cut this text: it was longer than ${maxLength.toLocaleString('en-US')} characters.]`;
}
