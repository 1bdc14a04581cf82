/**
 * Characters a reader of GitHub never sees but a model reads:
 * - every Unicode format character (`\p{Cf}`): zero-width space/joiners, LRM/RLM (U+200B–U+200F),
 *   word joiner and invisible operators (U+2060–U+2064), bidirectional embeddings, overrides and
 *   isolates (U+202A–U+202E, U+2066–U+2069), soft hyphen, BOM (U+FEFF), Mongolian vowel separator
 *   (U+180E), Arabic letter mark, interlinear annotations, tag characters (U+E0001, U+E0020–E007F);
 * - the rest of the tag block (U+E0000–U+E007F), control characters other than tab and newline,
 *   and lone surrogates;
 * - variation selectors (U+FE00–U+FE0F, U+E0100–U+E01EF): a run of them after one visible
 *   character can carry arbitrary bytes; dropping them only changes how an emoji is drawn;
 * - fillers that draw as nothing: combining grapheme joiner, Hangul fillers, Khmer inherent
 *   vowels.
 */
const INVISIBLE =
  /[\p{Cf}\p{Cs}\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u034F\u115F\u1160\u17B4\u17B5\u3164\uFFA0\uFE00-\uFE0F\u{E0000}-\u{E007F}\u{E0100}-\u{E01EF}]/gu;

/** Line and paragraph separators render as line breaks; keep them as the newline they show. */
const SEPARATORS = /[\u2028\u2029]/g;

export function stripInvisibleCharacters(text: string): string {
  return text.replace(SEPARATORS, '\n').replace(INVISIBLE, '');
}

/**
 * For code (a diff, a diff hunk) deleting characters would change what the agent is told the code
 * is; there they are shown instead, as `\u{…}`, so nothing is hidden and nothing is lost.
 */
export function revealInvisibleCharacters(text: string): string {
  return text.replace(INVISIBLE, (char) => `\\u{${char.codePointAt(0)?.toString(16).toUpperCase() ?? ''}}`);
}
