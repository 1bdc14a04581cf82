/** Share of a cut output kept from its start; the end (summaries, the failing assertion) matters more. */
const HEAD_SHARE = 0.3;

// Colours and cursor movement mean nothing in a PR body or a prompt.
const ANSI_ESCAPES = /\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])/g;
const OTHER_CONTROLS = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g;

/** Makes program output plain text: no escape sequences, no stray control characters, \n line ends. */
export function cleanOutput(text: string): string {
  return text.replace(ANSI_ESCAPES, '').replace(/\r\n?/g, '\n').replace(OTHER_CONTROLS, '');
}

/**
 * Joins the start and the end of an output to at most `maxChars` characters with a marker
 * between them. `whole` says `head` is the entire output (`tail` is then ignored); otherwise the
 * middle was never seen and only its absence can be reported (and with no tail, only the start).
 */
export function cutOutput(parts: { head: string; tail: string; whole: boolean }, maxChars: number): string {
  const head = trimBrokenChars(parts.head);
  if (parts.whole && head.length <= maxChars) return head;
  const tail = parts.whole ? head : trimBrokenChars(parts.tail);
  if (!parts.whole && tail === '') {
    const marker = '\n[… the rest of the output was cut …]\n';
    return head.slice(0, Math.max(0, maxChars - marker.length)) + marker;
  }
  const markerFor = (cut: number | undefined) =>
    cut === undefined ? '\n[… the middle of the output was cut …]\n' : `\n[… ${cut.toLocaleString('en-US')} characters cut …]\n`;
  // The marker's length depends on the count it reports: size the parts with a first guess, then fit.
  let marker = markerFor(parts.whole ? head.length - maxChars : undefined);
  const room = Math.max(0, maxChars - marker.length);
  const headChars = Math.floor(room * HEAD_SHARE);
  let tailChars = room - headChars;
  if (parts.whole) {
    marker = markerFor(head.length - headChars - tailChars);
    tailChars = Math.max(0, maxChars - marker.length - headChars);
    marker = markerFor(head.length - headChars - tailChars);
  }
  return head.slice(0, headChars) + marker + (tailChars > 0 ? tail.slice(-tailChars) : '');
}

/** A byte cut can split a UTF-8 character, which decodes as U+FFFD at the cut end. */
function trimBrokenChars(text: string): string {
  return text.replace(/^\uFFFD+|\uFFFD+$/g, '');
}
