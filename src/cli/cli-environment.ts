import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { configFileDefaults } from '../config/config-file.js';

/**
 * What the CLI reads its settings from, as the server does: the environment first, then `.env` in
 * the directory it runs in (TELECODER_SERVER, TELECODER_API_TOKEN), then the config file that
 * `telecoder config` writes under the data dir; each fills in only what the ones before leave
 * unset. A `.env` that cannot be read is as good as none; one that cannot be parsed says where.
 */
export function cliEnvironment(options: { env: NodeJS.ProcessEnv; cwd: string }): NodeJS.ProcessEnv {
  const merged = environmentWithDotEnv(options.env, options.cwd);
  // TELECODER_DATA_DIR may itself come from ./.env: the config file is looked up after it.
  return { ...configFileDefaults(merged), ...merged };
}

/** The environment, with what `.env` in `cwd` sets and the environment does not. */
export function environmentWithDotEnv(env: NodeJS.ProcessEnv, cwd: string): NodeJS.ProcessEnv {
  const file = join(cwd, '.env');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return env;
  }
  let parsed: Record<string, string | undefined>;
  try {
    parsed = parseEnv(text) as Record<string, string | undefined>;
  } catch (error) {
    throw new Error(`telecoder: ${file} could not be read as KEY=value lines (${(error as Error).message}); fix or remove it`);
  }
  const merged: NodeJS.ProcessEnv = { ...parsed };
  for (const [key, value] of Object.entries(env)) if (value !== undefined) merged[key] = value;
  return merged;
}
