import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnv } from 'node:util';

/**
 * What the CLI reads its settings from, as the server does: the environment first, then `.env` in
 * the directory it runs in (TELECODER_SERVER, TELECODER_API_TOKEN), which fills in only what the
 * environment leaves unset. A `.env` that cannot be read is as good as none; one that cannot be
 * parsed says where.
 */
export function cliEnvironment(options: { env: NodeJS.ProcessEnv; cwd: string }): NodeJS.ProcessEnv {
  const file = join(options.cwd, '.env');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return options.env;
  }
  let parsed: Record<string, string | undefined>;
  try {
    parsed = parseEnv(text) as Record<string, string | undefined>;
  } catch (error) {
    throw new Error(`telecoder: ${file} could not be read as KEY=value lines (${(error as Error).message}); fix or remove it`);
  }
  const merged: NodeJS.ProcessEnv = { ...parsed };
  for (const [key, value] of Object.entries(options.env)) if (value !== undefined) merged[key] = value;
  return merged;
}
