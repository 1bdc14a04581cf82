import { describe, expect, it } from 'vitest';
import { isLarge, parseUnifiedDiff, sideBySide } from '../../web/src/lib/diff-parser.js';

const MODIFIED = [
  'diff --git a/src/app.ts b/src/app.ts',
  'index 1111111..2222222 100644',
  '--- a/src/app.ts',
  '+++ b/src/app.ts',
  '@@ -1,4 +1,4 @@',
  ' const a = 1;',
  '-const b = 2;',
  '+const b = 3;',
  ' const c = 4;',
  ' const d = 5;',
  '@@ -10,3 +10,4 @@ function f() {',
  ' x();',
  '+y();',
  ' z();',
  ' w();',
].join('\n');

describe('parseUnifiedDiff', () => {
  it('splits a modified file into hunks with both line numbers', () => {
    const [file, ...rest] = parseUnifiedDiff(`${MODIFIED}\n`);
    expect(rest).toEqual([]);
    expect(file).toMatchObject({ path: 'src/app.ts', status: 'modified', additions: 2, deletions: 1, binary: false });
    expect(file!.hunks.map((hunk) => hunk.header)).toEqual(['@@ -1,4 +1,4 @@', '@@ -10,3 +10,4 @@ function f() {']);
    expect(file!.hunks[0]!.lines).toEqual([
      { kind: 'context', text: 'const a = 1;', oldNumber: 1, newNumber: 1 },
      { kind: 'del', text: 'const b = 2;', oldNumber: 2 },
      { kind: 'add', text: 'const b = 3;', newNumber: 2 },
      { kind: 'context', text: 'const c = 4;', oldNumber: 3, newNumber: 3 },
      { kind: 'context', text: 'const d = 5;', oldNumber: 4, newNumber: 4 },
    ]);
    expect(file!.hunks[1]!.lines[1]).toEqual({ kind: 'add', text: 'y();', newNumber: 11 });
  });

  it('reads added, deleted, renamed and binary files', () => {
    const files = parseUnifiedDiff(
      [
        'diff --git a/new.txt b/new.txt',
        'new file mode 100644',
        '--- /dev/null',
        '+++ b/new.txt',
        '@@ -0,0 +1 @@',
        '+hello',
        '\\ No newline at end of file',
        'diff --git a/old.txt b/old.txt',
        'deleted file mode 100644',
        '--- a/old.txt',
        '+++ /dev/null',
        '@@ -1 +0,0 @@',
        '-bye',
        'diff --git a/a.md b/docs/a.md',
        'similarity index 100%',
        'rename from a.md',
        'rename to docs/a.md',
        'diff --git a/logo.png b/logo.png',
        'new file mode 100644',
        'Binary files /dev/null and b/logo.png differ',
      ].join('\n'),
    );
    expect(files.map((file) => [file.path, file.status, file.binary])).toEqual([
      ['new.txt', 'added', false],
      ['old.txt', 'deleted', false],
      ['docs/a.md', 'renamed', false],
      ['logo.png', 'added', true],
    ]);
    expect(files[0]!.hunks[0]!.lines.at(-1)).toEqual({ kind: 'note', text: '\\ No newline at end of file' });
    expect(files[2]!.oldPath).toBe('a.md');
  });

  it('takes a removed line that starts with "--" for a line, not a file header', () => {
    const [file, ...rest] = parseUnifiedDiff(['--- a/notes.md', '+++ b/notes.md', '@@ -1,2 +1,1 @@', '--- a list item', ' kept'].join('\n'));
    expect(rest).toEqual([]);
    expect(file!.hunks[0]!.lines[0]).toEqual({ kind: 'del', text: '-- a list item', oldNumber: 1 });
    expect(file!.deletions).toBe(1);
  });

  it('starts a new file at each ---/+++ pair of a plain diff', () => {
    const files = parseUnifiedDiff(['--- a/one', '+++ b/one', '@@ -1 +1 @@', '-1', '+2', '--- a/two', '+++ b/two', '@@ -1 +1 @@', '-3', '+4'].join('\n'));
    expect(files.map((file) => file.path)).toEqual(['one', 'two']);
  });

  it('returns no files for an empty diff', () => {
    expect(parseUnifiedDiff('')).toEqual([]);
  });
});

describe('sideBySide', () => {
  it('puts each run of deletions beside the additions that follow it', () => {
    const [file] = parseUnifiedDiff(['--- a/f', '+++ b/f', '@@ -1,4 +1,4 @@', ' a', '-b', '-c', '+B', ' d', '+e'].join('\n'));
    const rows = sideBySide(file!.hunks[0]!).map((row) => [row.left?.text ?? null, row.right?.text ?? null]);
    expect(rows).toEqual([
      ['a', 'a'],
      ['b', 'B'],
      ['c', null],
      ['d', 'd'],
      [null, 'e'],
    ]);
  });
});

describe('isLarge', () => {
  it('is true past 400 changed lines', () => {
    const body = (count: number) => Array.from({ length: count }, (_, index) => `+line ${index}`);
    const file = (count: number) => parseUnifiedDiff(['--- /dev/null', '+++ b/big', `@@ -0,0 +1,${count} @@`, ...body(count)].join('\n'))[0]!;
    expect(isLarge(file(400))).toBe(false);
    expect(isLarge(file(401))).toBe(true);
  });
});
