import type { SessionJson } from './api-client.js';

const PROMPT_WIDTH = 48;

function truncate(text: string, width: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > width ? `${flat.slice(0, width - 1).trimEnd()}…` : flat;
}

/** `telecoder list`: ID, REPO, STATUS, PROMPT (truncated), PR, in aligned columns. */
export function formatSessionTable(sessions: SessionJson[]): string {
  const rows = [
    ['ID', 'REPO', 'STATUS', 'PROMPT', 'PR'],
    ...sessions.map((s) => [s.id, s.repo, s.status, truncate(s.prompt, PROMPT_WIDTH), s.pr_url ?? '-']),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows
    .map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  '))
    .join('\n');
}

/** `telecoder status`: one field a line. */
export function formatSessionDetails(session: SessionJson): string {
  const lines: Array<[string, string | number | null | undefined]> = [
    ['ID', session.id],
    ['Repo', session.repo],
    ['Status', session.status],
    ['Mode', session.mode],
    ['Branch', session.branch],
    ['Agent', session.agent],
    ['Model', session.model],
    ['PR', session.pr_url],
    ['Error', session.error],
    ['Result', session.result ? (session.result.type === 'text' ? session.result.content : session.result.type) : null],
    [
      'Tokens',
      `${session.usage.input_tokens} in, ${session.usage.output_tokens} out, ${session.usage.turns} turns` +
        (typeof session.usage.cost_usd === 'number' ? `, $${session.usage.cost_usd.toFixed(4)}` : ''),
    ],
    ['Created', session.created_at],
    ['Updated', session.updated_at],
    ['Prompt', session.prompt],
  ];
  return lines
    .filter(([, value]) => value !== null && value !== undefined && value !== '')
    .map(([label, value]) => `${`${label}:`.padEnd(9)}${String(value)}`)
    .join('\n');
}
