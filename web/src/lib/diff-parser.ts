/** A unified diff (as `git diff` writes it) split into files, hunks and numbered lines. */

export interface DiffLine {
  kind: 'context' | 'add' | 'del' | 'note';
  text: string;
  oldNumber?: number;
  newNumber?: number;
}

export interface DiffHunk {
  header: string;
  lines: DiffLine[];
}

export interface DiffFile {
  oldPath: string | null;
  newPath: string | null;
  /** The name to show: the new path, or the old one for a deleted file. */
  path: string;
  status: 'added' | 'deleted' | 'modified' | 'renamed';
  binary: boolean;
  hunks: DiffHunk[];
  additions: number;
  deletions: number;
}

const HUNK_HEADER = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/;

/** `a/src/x.ts` → `src/x.ts`; `/dev/null` → null; git's "quoted paths" lose their quotes. */
function cleanPath(raw: string): string | null {
  let path = raw.replace(/\t.*$/, '');
  if (path.startsWith('"') && path.endsWith('"')) path = path.slice(1, -1).replace(/\\(.)/g, '$1');
  if (path === '/dev/null') return null;
  return path.replace(/^[ab]\//, '');
}

function newFile(gitLine?: string): DiffFile {
  // "diff --git a/x b/x": the paths are only a fallback (a binary file has no ---/+++ lines).
  const match = gitLine ? /^diff --git "?a\/(.+?)"? "?b\/(.+?)"?$/.exec(gitLine) : null;
  const oldPath = match?.[1] ?? null;
  const newPath = match?.[2] ?? null;
  return { oldPath, newPath, path: newPath ?? oldPath ?? '', status: 'modified', binary: false, hunks: [], additions: 0, deletions: 0 };
}

function finish(file: DiffFile): DiffFile {
  if (file.status === 'modified' && file.oldPath === null && file.newPath !== null && file.hunks.length > 0) file.status = 'added';
  if (file.status === 'modified' && file.newPath === null && file.oldPath !== null) file.status = 'deleted';
  if (file.status === 'modified' && file.oldPath !== null && file.newPath !== null && file.oldPath !== file.newPath) file.status = 'renamed';
  file.path = file.newPath ?? file.oldPath ?? file.path;
  return file;
}

export function parseUnifiedDiff(text: string): DiffFile[] {
  const files: DiffFile[] = [];
  let file: DiffFile | undefined;
  let hunk: DiffHunk | undefined;
  // Lines still owed by the current hunk: while any are, a line starting "---" is a deleted line, not a header.
  let oldLeft = 0;
  let newLeft = 0;
  let oldNumber = 0;
  let newNumber = 0;
  const start = (gitLine?: string): DiffFile => {
    if (file) files.push(finish(file));
    file = newFile(gitLine);
    hunk = undefined;
    return file;
  };

  for (const line of text.split('\n')) {
    if (hunk && (oldLeft > 0 || newLeft > 0)) {
      const marker = line[0];
      const body = line.slice(1);
      if (marker === '+') {
        hunk.lines.push({ kind: 'add', text: body, newNumber: newNumber++ });
        newLeft--;
        file!.additions++;
        continue;
      }
      if (marker === '-') {
        hunk.lines.push({ kind: 'del', text: body, oldNumber: oldNumber++ });
        oldLeft--;
        file!.deletions++;
        continue;
      }
      if (marker === ' ' || line === '') {
        hunk.lines.push({ kind: 'context', text: body, oldNumber: oldNumber++, newNumber: newNumber++ });
        oldLeft--;
        newLeft--;
        continue;
      }
      if (marker === '\\') {
        hunk.lines.push({ kind: 'note', text: line });
        continue;
      }
      // Anything else ends a hunk whose counts were wrong; read it as a header below.
    } else if (hunk && line.startsWith('\\')) {
      hunk.lines.push({ kind: 'note', text: line });
      continue;
    }

    if (line.startsWith('diff --git ')) {
      start(line);
    } else if (line.startsWith('--- ') && !(hunk && file)) {
      (file ?? start()).oldPath = cleanPath(line.slice(4));
    } else if (line.startsWith('--- ')) {
      // A plain diff (no "diff --git" lines): each "---" after a hunk starts the next file.
      start().oldPath = cleanPath(line.slice(4));
    } else if (line.startsWith('+++ ') && file) {
      file.newPath = cleanPath(line.slice(4));
    } else if (line.startsWith('new file mode') && file) {
      file.status = 'added';
      file.oldPath = null;
    } else if (line.startsWith('deleted file mode') && file) {
      file.status = 'deleted';
      file.newPath = null;
    } else if (line.startsWith('rename from ') && file) {
      file.oldPath = line.slice('rename from '.length);
    } else if (line.startsWith('rename to ') && file) {
      file.newPath = line.slice('rename to '.length);
    } else if ((line.startsWith('Binary files ') || line === 'GIT binary patch') && file) {
      file.binary = true;
    } else if (file) {
      const match = HUNK_HEADER.exec(line);
      if (match) {
        oldNumber = Number(match[1]);
        newNumber = Number(match[3]);
        oldLeft = match[2] === undefined ? 1 : Number(match[2]);
        newLeft = match[4] === undefined ? 1 : Number(match[4]);
        hunk = { header: line, lines: [] };
        file.hunks.push(hunk);
      }
    }
  }
  if (file) files.push(finish(file));
  return files;
}

export interface SideBySideRow {
  left?: DiffLine;
  right?: DiffLine;
}

/** Pairs a hunk's lines for two columns: each run of deletions sits beside the additions after it. */
export function sideBySide(hunk: DiffHunk): SideBySideRow[] {
  const rows: SideBySideRow[] = [];
  let dels: DiffLine[] = [];
  let adds: DiffLine[] = [];
  const flush = () => {
    for (let index = 0; index < Math.max(dels.length, adds.length); index++) {
      const row: SideBySideRow = {};
      if (dels[index]) row.left = dels[index];
      if (adds[index]) row.right = adds[index];
      rows.push(row);
    }
    dels = [];
    adds = [];
  };
  for (const line of hunk.lines) {
    if (line.kind === 'del') {
      if (adds.length > 0) flush();
      dels.push(line);
    } else if (line.kind === 'add') adds.push(line);
    else {
      flush();
      rows.push(line.kind === 'note' ? { left: line } : { left: line, right: line });
    }
  }
  flush();
  return rows;
}

/** Files with more changed lines than this start collapsed. */
export const LARGE_FILE_LINES = 400;

export function isLarge(file: DiffFile): boolean {
  return file.additions + file.deletions > LARGE_FILE_LINES;
}
