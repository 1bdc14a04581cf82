/**
 * Markup GitHub renders as nothing (or only on hover) that would reach a model as plain text.
 * Each function removes one kind; `sanitizeUntrustedText` runs them in order. When unsure whether
 * GitHub would show something, these remove it: losing a little visible text is the safe failure.
 */

/**
 * HTML comments — including the empty forms `<!-->` and `<!--->`, the `--!>` ending, and an
 * unterminated comment, which hides everything after it — plus processing instructions, CDATA
 * sections and declarations (`<!X …>`), which render as nothing either.
 */
const COMMENT_LIKE =
  /<!--(?:>|->|[\s\S]*?--!?>)|<!--[\s\S]*$|<\?[\s\S]*?\?>|<!\[CDATA\[[\s\S]*?\]\]>|<![A-Za-z][^>]*>/g;

const MAX_ROUNDS = 8;

export function stripHtmlComments(text: string): string {
  // Removing one comment can join `<!` and `--` around it into a new one: repeat, and past a few
  // rounds (only a crafted text nests that deep) drop everything from the next comment on.
  for (let round = 0; round < MAX_ROUNDS; round += 1) {
    const next = text.replace(COMMENT_LIKE, '');
    if (next === text) return text;
    text = next;
  }
  COMMENT_LIKE.lastIndex = 0;
  const rest = COMMENT_LIKE.exec(text);
  COMMENT_LIKE.lastIndex = 0;
  return rest ? text.slice(0, rest.index) : text;
}

/** One HTML start or end tag, quoted attribute values may hold `>`. */
const TAG = /<(\/?)([A-Za-z][A-Za-z0-9-]*)((?:\s+[^\s"'<>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?)*)\s*(\/?)>/g;
const ATTRIBUTE = /\s+([^\s"'<>/=]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'=<>`]+))?/g;

const VOID_ELEMENTS = new Set(['area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'source', 'track', 'wbr']);
/** Elements whose content is never rendered as text. */
const NEVER_RENDERED = new Set(['script', 'style', 'template', 'noscript']);
const HIDING_STYLE =
  /display\s*:\s*none|visibility\s*:\s*(?:hidden|collapse)|opacity\s*:\s*0*\.?0*\s*(?:;|!|$)|font-size\s*:\s*0*\.?0*\s*(?:px|em|rem|pt|%)?\s*(?:;|!|$)/i;

interface Attribute {
  name: string;
  value: string | undefined;
  raw: string;
}

function attributesOf(source: string): Attribute[] {
  return [...source.matchAll(ATTRIBUTE)].map((match) => ({
    name: (match[1] ?? '').toLowerCase(),
    value: match[2]?.replace(/^["']|["']$/g, ''),
    raw: match[0],
  }));
}

function hides(name: string, attributeSource: string): boolean {
  if (NEVER_RENDERED.has(name)) return true;
  return attributesOf(attributeSource).some(
    (attribute) => attribute.name === 'hidden' || (attribute.name === 'style' && HIDING_STYLE.test(attribute.value ?? '')),
  );
}

/**
 * Removes elements that are not displayed — `hidden`, `style="display:none"` (and
 * `visibility:hidden`, `opacity:0`, `font-size:0`), `<script>`, `<style>`, `<template>`,
 * `<noscript>` — with everything inside them. Nesting of the same element is followed; an element
 * that is never closed hides the rest of the text, as it would in a browser.
 *
 * `<details>` is kept, content and all: one click shows it, so it is visible text.
 */
export function removeHiddenElements(text: string): string {
  let output = '';
  let cursor = 0;
  let open: { name: string; depth: number } | undefined;
  for (const match of text.matchAll(TAG)) {
    const [whole, slash, rawName = '', attributeSource = '', selfClosing] = match;
    const name = rawName.toLowerCase();
    const index = match.index;
    const isVoid = VOID_ELEMENTS.has(name) || selfClosing === '/';
    if (open) {
      if (name !== open.name) continue;
      if (slash) open.depth -= 1;
      else if (!isVoid) open.depth += 1;
      if (open.depth === 0) {
        cursor = index + whole.length;
        open = undefined;
      }
      continue;
    }
    if (slash || !hides(name, attributeSource)) continue;
    output += text.slice(cursor, index);
    cursor = index + whole.length;
    if (!isVoid) open = { name, depth: 1 };
  }
  return open ? output : output + text.slice(cursor);
}

/** Attributes whose text a reader does not see (or sees only on hover). */
function hidesText(name: string): boolean {
  return (
    name === 'alt' ||
    name === 'title' ||
    name === 'placeholder' ||
    name === 'style' ||
    name.startsWith('data-') ||
    name.startsWith('aria-')
  );
}

/** Drops `alt`, `title`, `placeholder`, `style`, `data-*` and `aria-*` from every HTML tag. */
export function stripHiddenAttributes(text: string): string {
  return text.replace(TAG, (whole, slash: string, name: string, attributeSource: string, selfClosing: string) => {
    if (slash) return whole;
    const attributes = attributesOf(attributeSource);
    if (!attributes.some((attribute) => hidesText(attribute.name))) return whole;
    const kept = attributes.filter((attribute) => !hidesText(attribute.name)).map((attribute) => attribute.raw);
    return `<${name}${kept.join('')}${selfClosing ? ' /' : ''}>`;
  });
}

/** Link text: brackets nest one level, backslash escapes count. */
const LINK_TEXT = String.raw`(?:\\.|[^\[\]\\]|\[(?:\\.|[^\[\]\\])*\])*`;
const IMAGE = new RegExp(String.raw`!\[${LINK_TEXT}\]`, 'g');

/** `![anything](url)` becomes `![image](url)`: alt text is only read out by screen readers. */
export function stripMarkdownImageAlt(text: string): string {
  return text.replace(IMAGE, '![image]');
}

const TITLE = String.raw`(?:"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|\((?:\\.|[^()\\])*\))`;
const INLINE_LINK_WITH_TITLE = new RegExp(
  String.raw`(\]\(\s*(?:<[^<>\n]*>|[^\s()<>]*(?:\([^\s()]*\)[^\s()<>]*)*))\s+${TITLE}\s*\)`,
  'g',
);

/** `[x](url "title")` becomes `[x](url)`: a title is only shown on hover. */
export function stripLinkTitles(text: string): string {
  return text.replace(INLINE_LINK_WITH_TITLE, '$1)');
}

const DEFINITION = new RegExp(
  String.raw`^ {0,3}\[((?:\\.|[^\[\]\\]){1,999})\]:[ \t]*\n?[ \t]*(<[^<>\n]*>|[^\s<>]\S*)(?:[ \t]*\n?[ \t]*${TITLE})?[ \t]*$`,
  'gm',
);
const FULL_REFERENCE = new RegExp(String.raw`\[(${LINK_TEXT})\]\[((?:\\.|[^\[\]\\])+)\]`, 'g');
const BRACKETED = /\[((?:\\.|[^[\]\\])+)\]/g;

const labelKey = (label: string) => label.trim().replace(/\s+/g, ' ').toLowerCase();

/**
 * Link reference definitions (`[label]: url "title"`) render as nothing, and in a full reference
 * `[text][label]` the label is not shown either — both are popular hiding places
 * (`[//]: # (a comment)`). Full references become inline links, titles go, and a definition
 * stays only when a shortcut or collapsed reference (`[label]`, `[label][]`) shows its label.
 */
export function resolveReferenceLinks(text: string): string {
  const destinations = new Map<string, string>();
  for (const match of text.matchAll(DEFINITION)) {
    const key = labelKey(match[1] ?? '');
    if (!destinations.has(key)) destinations.set(key, match[2] ?? '');
  }
  const inline = (source: string) =>
    source.replace(FULL_REFERENCE, (whole, linkText: string, label: string) => {
      const destination = destinations.get(labelKey(label));
      return destination === undefined ? whole : `[${linkText}](${destination})`;
    });
  if (destinations.size === 0) return text;
  const shown = new Set([...inline(text.replace(DEFINITION, '')).matchAll(BRACKETED)].map((match) => labelKey(match[1] ?? '')));
  return inline(
    text.replace(DEFINITION, (_whole, label: string, destination: string) =>
      shown.has(labelKey(label)) ? `[${label}]: ${destination}` : '',
    ),
  );
}
