import type { HeldBackFile } from '../git/hold-back-changes.js';
import { ALLOW_WORKFLOW_CHANGES_HINT } from '../git/held-back-paths.js';

const NAMED_IN_SENTENCE = 5;

/** A path as one line of inline code that its own characters cannot close or break. */
function codePath(path: string): string {
  const flat = path.replace(/[\x00-\x1f\x7f]/g, '?');
  const ticks = Math.max(0, ...[...flat.matchAll(/`+/g)].map((run) => run[0].length)) + 1;
  const fence = '`'.repeat(ticks);
  return ticks > 1 ? `${fence} ${flat} ${fence}` : `${fence}${flat}${fence}`;
}

/** A fence longer than any run of backticks in the text, so the text can never end the block. */
function fenced(text: string, language: string): string[] {
  const longest = Math.max(0, ...[...text.matchAll(/`+/g)].map((run) => run[0].length));
  const fence = '`'.repeat(Math.max(3, longest + 1));
  return [`${fence}${language}`, text.replace(/\n$/, ''), fence];
}

function languageOf(path: string): string {
  return /\.ya?ml$/i.test(path) ? 'yaml' : '';
}

/** "3 CI workflow file(s) (`a`, `b`, …)": the files named in one line. */
export function heldBackNames(files: readonly HeldBackFile[], options: { code?: boolean } = {}): string {
  const show = (path: string) => (options.code ? codePath(path) : path);
  const named = files.slice(0, NAMED_IN_SENTENCE).map((file) => show(file.path));
  if (files.length > NAMED_IN_SENTENCE) named.push(`… ${files.length - NAMED_IN_SENTENCE} more`);
  return `${files.length} CI workflow file(s) (${named.join(', ')})`;
}

/** What happened to one file, and its content when there is any to show. */
function fileLines(file: HeldBackFile, format: 'markdown' | 'text'): string[] {
  const name = format === 'markdown' ? codePath(file.path) : file.path;
  const what = file.change === 'deleted' ? 'deleted by the agent' : `${file.change}${file.symlink ? ' (a symbolic link to the path below)' : ''}`;
  const head = format === 'markdown' ? `### ${name} — ${what}` : `--- ${name} (${what}) ---`;
  if (file.change === 'deleted') return [head, ''];
  if (file.content === undefined) return [head, `_content not shown: ${file.omitted ?? 'unavailable'}_`, ''];
  return [head, ...fenced(file.content, format === 'markdown' ? languageOf(file.path) : ''), ''];
}

/** The pull request's section for held-back files: why, and each file's content to add by hand. */
export function heldBackSection(files: readonly HeldBackFile[]): string[] {
  if (files.length === 0) return [];
  return [
    '## ⚠️ Held back: CI workflow changes',
    `The agent also changed ${heldBackNames(files, { code: true })}. They are **not** in this pull request: ` +
      "pushing them would run them in CI with the repository's secrets. Review them and add them yourself, " +
      `or ${ALLOW_WORKFLOW_CHANGES_HINT}.`,
    '',
    ...files.flatMap((file) => fileLines(file, 'markdown')),
  ];
}

/** The session event that shows the held-back files, content included, wherever the work went. */
export function heldBackEventText(files: readonly HeldBackFile[]): string {
  return [
    `Held back, not pushed: ${heldBackNames(files)}; pushing them would run them in CI with the repository's secrets. ` +
      `Add them yourself from the content below, or ${ALLOW_WORKFLOW_CHANGES_HINT}.`,
    '',
    ...files.flatMap((file) => fileLines(file, 'text')),
  ].join('\n');
}

/**
 * The result's warning: the files named, and where their content is (`where`, e.g. "the pull
 * request body shows them").
 */
export function heldBackWarning(files: readonly HeldBackFile[], where: string): string {
  // Code spans: the names are the agent's, and markdown readers (the tracking comment) show this.
  return `${heldBackNames(files, { code: true })} were held back and not pushed; ${where}. Add them yourself, or ${ALLOW_WORKFLOW_CHANGES_HINT}`;
}

/** Why nothing was delivered when the workflow files were the whole change; `then` says what to do after allowing them. */
export function heldBackOnlyMessage(files: readonly HeldBackFile[], options: { then?: string } = {}): string {
  return (
    `the agent's only changes were to ${heldBackNames(files)}, which TeleCoder holds back: pushing them would run them in CI ` +
    "with the repository's secrets. Their content is in the session's events; add them yourself, or " +
    `${ALLOW_WORKFLOW_CHANGES_HINT}, ${options.then ?? 'and run the task again'}`
  );
}
