import { readFileSync } from 'node:fs';

/**
 * The shell commands of one README section, in order: every line of its ```bash blocks, with
 * trailing `# comments` and blank lines dropped. A line continued with `\` is joined to the next.
 */
export function readmeCommands(readmePath: string, section: string): string[] {
  const text = readFileSync(readmePath, 'utf8');
  const start = text.indexOf(`\n## ${section}\n`);
  if (start < 0) throw new Error(`README has no "## ${section}" section`);
  const end = text.indexOf('\n## ', start + 1);
  const body = text.slice(start, end < 0 ? undefined : end);
  const commands: string[] = [];
  for (const block of body.matchAll(/```(?:bash|sh)\n([\s\S]*?)```/g)) {
    let pending = '';
    for (const raw of block[1]!.split('\n')) {
      const line = pending + stripComment(raw).trimEnd();
      if (line.endsWith('\\')) {
        pending = `${line.slice(0, -1)} `;
        continue;
      }
      pending = '';
      if (line.trim()) commands.push(line.trim());
    }
  }
  return commands;
}

/** Drops a `#` comment that is not inside quotes. */
function stripComment(line: string): string {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const char = line[i]!;
    if (quote) {
      if (char === quote) quote = undefined;
    } else if (char === '"' || char === "'") quote = char;
    else if (char === '#' && (i === 0 || /\s/.test(line[i - 1]!))) return line.slice(0, i);
  }
  return line;
}
