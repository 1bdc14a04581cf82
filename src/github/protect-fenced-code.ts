import { stripInvisibleCharacters } from './strip-invisible-characters.js';

/**
 * Fenced code blocks are shown exactly as written, so the HTML and markdown rules must not touch
 * them (an issue quoting `<div data-testid="x">` keeps it). They are swapped for placeholders
 * while the rest is cleaned, then put back; a placeholder inside something hidden goes with it.
 *
 * Only what GitHub certainly renders as a code block is protected: a fence at the start of a line
 * (at most three spaces in), outside any HTML block. Every line that could open an HTML block —
 * also inside quotes and list items — suspends fence detection until the HTML block could end,
 * because there a "fence" is raw HTML. Fences inside quotes or lists are not protected either:
 * they are cleaned like prose, which at worst removes visible text.
 */

export const PLACEHOLDER_OPEN = '\uE000';
export const PLACEHOLDER_CLOSE = '\uE001';
const PLACEHOLDER = /\uE000(\d+)\uE001/g;

const FENCE_OPEN = /^ {0,3}(`{3,}|~{3,})(.*)$/;
/** Quote markers and list markers, generously: more HTML detected means less protected. */
const CONTAINER_PREFIX = /^(?:[ \t]*(?:>|[-*+]|\d{1,9}[.)])(?=[ \t]|$))*[ \t]*/;

interface HtmlBlockRule {
  start: RegExp;
  /** undefined: the HTML block ends at a blank line. */
  end?: RegExp;
}

const HTML_BLOCKS: HtmlBlockRule[] = [
  { start: /^<(?:script|pre|style|textarea)(?:\s|>|$)/i, end: /<\/(?:script|pre|style|textarea)>/i },
  { start: /^<!--/, end: /-->/ },
  { start: /^<\?/, end: /\?>/ },
  { start: /^<!\[CDATA\[/, end: /\]\]>/ },
  { start: /^<![A-Za-z]/, end: />/ },
  // Any start or end tag (CommonMark's kinds 6 and 7, without their finer conditions).
  { start: /^<\/?[A-Za-z]/ },
];

export interface ProtectedText {
  text: string;
  restore(cleaned: string): string;
}

/** The first word of the info string names the language; the rest is never displayed. */
function openingLine(fence: string, info: string): string {
  const language = /^[\w+#.-]{1,30}$/.exec(info.trim().split(/\s+/)[0] ?? '')?.[0] ?? '';
  return fence + language;
}

export function protectFencedCode(text: string): ProtectedText {
  const lines = text.split('\n');
  const output: string[] = [];
  const blocks: string[] = [];
  let html: HtmlBlockRule | undefined;
  let fence: { char: string; length: number; lines: string[] } | undefined;

  const closeFence = () => {
    if (!fence) return;
    blocks.push(stripInvisibleCharacters(fence.lines.join('\n')));
    output.push(`${PLACEHOLDER_OPEN}${blocks.length - 1}${PLACEHOLDER_CLOSE}`);
    fence = undefined;
  };

  for (const line of lines) {
    if (fence) {
      const close = /^ {0,3}(`{3,}|~{3,})[ \t]*$/.exec(line)?.[1];
      if (close && close[0] === fence.char && close.length >= fence.length) {
        fence.lines.push(close);
        closeFence();
      } else {
        fence.lines.push(line);
      }
      continue;
    }
    if (html) {
      output.push(line);
      if (html.end ? html.end.test(line) : line.trim() === '') html = undefined;
      continue;
    }
    const open = FENCE_OPEN.exec(line);
    const marker = open?.[1];
    const info = open?.[2] ?? '';
    if (marker && !(marker[0] === '`' && info.includes('`'))) {
      fence = { char: marker[0] ?? '`', length: marker.length, lines: [openingLine(marker, info)] };
      continue;
    }
    output.push(line);
    const content = line.replace(CONTAINER_PREFIX, '');
    const rule = HTML_BLOCKS.find((candidate) => candidate.start.test(content));
    if (rule && !(rule.end && rule.end.test(content.slice(2)))) html = rule;
  }
  // An unclosed fence runs to the end of the text, as on GitHub.
  closeFence();

  return {
    text: output.join('\n'),
    restore: (cleaned) => cleaned.replace(PLACEHOLDER, (_whole, index: string) => blocks[Number(index)] ?? ''),
  };
}
