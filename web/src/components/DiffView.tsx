import { useMemo, useState, type ReactNode } from 'react';
import { isLarge, parseUnifiedDiff, sideBySide, type DiffFile, type DiffHunk, type DiffLine } from '../lib/diff-parser.js';

type Layout = 'unified' | 'split';

/** A unified diff per file, unified or side by side; files past LARGE_FILE_LINES start collapsed. */
export function DiffView({ text }: { text: string }) {
  const files = useMemo(() => parseUnifiedDiff(text), [text]);
  const [layout, setLayout] = useState<Layout>('unified');
  if (files.length === 0) return <p className="muted">The diff is empty.</p>;
  return (
    <div className="diff">
      <div className="diff-toolbar" role="group" aria-label="Diff layout">
        <span>
          {files.length} file{files.length === 1 ? '' : 's'}
        </span>
        <button type="button" aria-pressed={layout === 'unified'} onClick={() => setLayout('unified')} data-testid="diff-unified">
          Unified
        </button>
        <button type="button" aria-pressed={layout === 'split'} onClick={() => setLayout('split')} data-testid="diff-split">
          Side by side
        </button>
      </div>
      {files.map((file, index) => (
        <FileDiff key={`${index}:${file.path}`} file={file} layout={layout} />
      ))}
    </div>
  );
}

function FileDiff({ file, layout }: { file: DiffFile; layout: Layout }) {
  const [open, setOpen] = useState(!isLarge(file));
  return (
    <section className="diff-file" data-testid="diff-file" data-path={file.path}>
      <header>
        <span className={`file-status file-${file.status}`}>{file.status}</span> <code>{file.status === 'renamed' ? `${file.oldPath} → ${file.newPath}` : file.path}</code>{' '}
        <span className="add">+{file.additions}</span> <span className="del">−{file.deletions}</span>{' '}
        <button type="button" className="small" onClick={() => setOpen(!open)} aria-expanded={open} data-testid="diff-toggle">
          {open ? 'Collapse' : isLarge(file) ? `Expand (${file.additions + file.deletions} changed lines)` : 'Expand'}
        </button>
      </header>
      {open && file.binary && <p className="muted">Binary file</p>}
      {open && !file.binary && (layout === 'unified' ? <Unified file={file} /> : <Split file={file} />)}
    </section>
  );
}

const SIGN = { add: '+', del: '-', context: ' ', note: '' } as const;

/**
 * What both layouts share: the column widths (table-layout: fixed takes them from the colgroup,
 * not from the hunk header spanning every column), then each hunk's header and its rows.
 */
function HunkTable({ layout, columns, file, rows }: { layout: Layout; columns: Array<'num' | 'code'>; file: DiffFile; rows: (hunk: DiffHunk) => ReactNode }) {
  return (
    <table className={`diff-table ${layout}`}>
      <colgroup>
        {columns.map((kind, index) => (
          <col key={index} className={kind === 'num' ? 'num-col' : undefined} />
        ))}
      </colgroup>
      {file.hunks.map((hunk, index) => (
        <tbody key={index}>
          <tr className="hunk">
            <td colSpan={columns.length}>{hunk.header}</td>
          </tr>
          {rows(hunk)}
        </tbody>
      ))}
    </table>
  );
}

function Unified({ file }: { file: DiffFile }) {
  return (
    <HunkTable
      layout="unified"
      columns={['num', 'num', 'code']}
      file={file}
      rows={(hunk) =>
        hunk.lines.map((line, lineIndex) => (
          <tr key={lineIndex} className={`line-${line.kind}`}>
            <td className="num">{line.oldNumber ?? ''}</td>
            <td className="num">{line.newNumber ?? ''}</td>
            <td className="code">
              {SIGN[line.kind]}
              {line.text}
            </td>
          </tr>
        ))
      }
    />
  );
}

function Cell({ line, side }: { line: DiffLine | undefined; side: 'old' | 'new' }) {
  if (!line) return <td className="num empty" colSpan={2} />;
  return (
    <>
      <td className={`num line-${line.kind}`}>{(side === 'old' ? line.oldNumber : line.newNumber) ?? ''}</td>
      <td className={`code line-${line.kind}`}>{line.text}</td>
    </>
  );
}

function Split({ file }: { file: DiffFile }) {
  return (
    <HunkTable
      layout="split"
      columns={['num', 'code', 'num', 'code']}
      file={file}
      rows={(hunk) =>
        sideBySide(hunk).map((row, rowIndex) => (
          <tr key={rowIndex}>
            <Cell line={row.left} side="old" />
            <Cell line={row.right} side="new" />
          </tr>
        ))
      }
    />
  );
}
