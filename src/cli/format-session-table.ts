import type { SessionJson } from './api-client.js';

const PROMPT_WIDTH = 48;

function truncate(text: string, width: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > width ? `${flat.slice(0, width - 1).trimEnd()}…` : flat;
}

/** `telecoder list`: ID, REPO, STATUS, FROM (the door: api, github, slack, telegram), PROMPT (truncated), PR, in aligned columns. */
export function formatSessionTable(sessions: SessionJson[]): string {
  const rows = [
    ['ID', 'REPO', 'STATUS', 'FROM', 'PROMPT', 'PR'],
    ...sessions.map((s) => [s.id, s.repo, s.status, s.origin.kind, truncate(s.prompt, PROMPT_WIDTH), s.pr_url ?? '-']),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows
    .map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  '))
    .join('\n');
}

/** `telecoder status`: one field a line, then the result's text (the answer, or the change's summary). */
export function formatSessionDetails(session: SessionJson): string {
  const lines: Array<[string, string | number | null | undefined]> = [
    ['ID', session.id],
    ['Repo', session.repo],
    ['Status', session.status],
    ['Mode', session.mode],
    ['From', session.origin.kind],
    ['Branch', session.branch],
    ['Agent', session.agent],
    ['Model', session.model],
    ['PR', session.pr_url ?? session.result?.pr_url],
    ['Pushed', session.result?.type === 'branch' ? `branch ${session.result.branch ?? session.branch} of ${session.repo}` : null],
    ['Error', session.error],
    ['Warning', session.result?.warning],
    ['Held back', session.result?.held_back?.join(', ')],
    [
      'Tokens',
      `${session.usage.input_tokens} in, ${session.usage.output_tokens} out, ${session.usage.turns} turns` +
        (typeof session.usage.cost_usd === 'number' ? `, $${session.usage.cost_usd.toFixed(4)}` : ''),
    ],
    ['Created', session.created_at],
    ['Updated', session.updated_at],
    ['Prompt', session.prompt],
  ];
  const fields = lines
    .filter(([, value]) => value !== null && value !== undefined && value !== '')
    .map(([label, value]) => `${`${label}:`.padEnd(11)}${String(value)}`);
  // The answer, or what the change did, in full below the fields: it is what `status` is asked for.
  const content = session.result?.content.trim();
  if (content) fields.push('', session.result!.type === 'text' ? 'Answer:' : 'Result:', ...content.split('\n').map((line) => `  ${line}`));
  return fields.join('\n');
}
