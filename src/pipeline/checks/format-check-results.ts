import type { CheckResult } from '../run-checks.js';

/** Lines of a failure's output shown in the summary (the end, where runners put what failed). */
const FAILURE_TAIL_LINES = 40;
const FAILURE_TAIL_CHARS = 3_000;

/**
 * A compact markdown summary of check results for PR bodies and the coding agent's fix prompt:
 * one line per check, then the end of each real failure's output in a fenced block. Missing tools
 * and skipped checks are marked ⏭, not ❌: they say nothing about the code.
 */
export function formatCheckResults(results: readonly CheckResult[]): string {
  if (results.length === 0) return 'No checks were run.';
  const failed = results.filter(isFailure);
  const passed = results.filter((result) => result.passed).length;
  const skipped = results.length - passed - failed.length;
  const counts = [`${passed} passed`, `${failed.length} failed`, ...(skipped > 0 ? [`${skipped} skipped`] : [])].join(', ');

  const lines = [`**Checks:** ${counts}`, ''];
  for (const result of results) lines.push(`- ${summaryLine(result)}`);
  for (const result of failed) {
    const tail = outputTail(result.output);
    lines.push('', `**${escapeMarkdown(result.name)}** (${inlineCode(result.command)})${tail ? ' output, last lines:' : ' printed nothing.'}`);
    if (tail) lines.push(fenced(tail));
  }
  return lines.join('\n');
}

function isFailure(result: CheckResult): boolean {
  return !result.passed && !result.missingTool && !result.skipped;
}

function summaryLine(result: CheckResult): string {
  const label = `**${escapeMarkdown(result.name)}** ${inlineCode(result.command)}`;
  if (result.passed) return `✅ ${label} — ${duration(result.durationMs)}`;
  if (result.skipped || result.missingTool) return `⏭ ${label} — skipped: ${escapeMarkdown(result.note ?? 'not run')}`;
  const why = result.timedOut ? (result.note ?? 'timed out') : `exit ${result.exitCode}`;
  return `❌ ${label} — ${duration(result.durationMs)}, ${escapeMarkdown(why)}`;
}

function duration(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1_000)} s`;
}

function outputTail(output: string): string {
  const lines = output.trimEnd().split('\n');
  let tail = lines.slice(-FAILURE_TAIL_LINES).join('\n');
  if (tail.length > FAILURE_TAIL_CHARS) tail = `…${tail.slice(-FAILURE_TAIL_CHARS)}`;
  return tail.replace(/^\n+/, '');
}

/** A fence longer than any backtick run in the text, so test output cannot close it early. */
function fenced(text: string): string {
  const fence = '`'.repeat(Math.max(3, longestBacktickRun(text) + 1));
  return `${fence}text\n${text}\n${fence}`;
}

function inlineCode(text: string): string {
  const oneLine = text.replace(/\s*\n\s*/g, ' ⏎ ');
  const ticks = '`'.repeat(longestBacktickRun(oneLine) + 1);
  const pad = oneLine.startsWith('`') || oneLine.endsWith('`') ? ' ' : '';
  return `${ticks}${pad}${oneLine}${pad}${ticks}`;
}

function longestBacktickRun(text: string): number {
  let longest = 0;
  for (const run of text.match(/`+/g) ?? []) longest = Math.max(longest, run.length);
  return longest;
}

function escapeMarkdown(text: string): string {
  return text.replace(/[\\`*_[\]<>|#]/g, (char) => `\\${char}`);
}
