import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parseEnv } from 'node:util';
import { TeleCoderError } from '../errors.js';
import { dataDirOf } from './config.js';

/** The file, inside the data dir, that `telecoder config` writes and `serve` and the CLI read. */
export const CONFIG_FILE = 'config.env';

/** `<TELECODER_DATA_DIR or ~/.telecoder>/config.env`. */
export function configFilePath(env: NodeJS.ProcessEnv): string {
  return join(dataDirOf(env), CONFIG_FILE);
}

/** The file's KEY=value pairs; {} when there is no file. */
export function readConfigFile(file: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new TeleCoderError(`telecoder: ${file} cannot be read (${(error as Error).message}); fix its permissions or delete it`);
  }
  try {
    return Object.fromEntries(Object.entries(parseEnv(text)).filter((entry): entry is [string, string] => entry[1] !== undefined));
  } catch (error) {
    throw new TeleCoderError(`telecoder: ${file} could not be read as KEY=value lines (${(error as Error).message}); fix it with \`telecoder config set\` or delete it`);
  }
}

/**
 * The config file's values for what `env` leaves unset: the file comes last, after the
 * environment and ./.env, so it never overrides either. A key set to "" in the environment counts
 * as set, as process.loadEnvFile has it.
 */
export function configFileDefaults(env: NodeJS.ProcessEnv): Record<string, string> {
  const saved = readConfigFile(configFilePath(env));
  return Object.fromEntries(Object.entries(saved).filter(([key]) => env[key] === undefined));
}

/** A line that parseEnv reads back as exactly `value`, or undefined when no quoting does. */
function envLine(key: string, value: string): string | undefined {
  // Single quotes keep everything literal; double quotes or backticks for a value holding one.
  for (const candidate of [`${key}='${value}'`, `${key}="${value}"`, `${key}=\`${value}\``]) {
    try {
      if (parseEnv(candidate)[key] === value) return candidate;
    } catch {
      // Try the next form.
    }
  }
  return undefined;
}

/**
 * Sets (or, for undefined, removes) keys in the config file, keeping its other lines and
 * comments. The directory is made 0700 and the file written 0600 under a temporary name, then
 * renamed into place: no reader sees it half written or with wider permissions.
 */
export function writeConfigFile(file: string, updates: Record<string, string | undefined>): void {
  let lines: string[] = [];
  try {
    lines = readFileSync(file, 'utf8').replace(/\n$/, '').split('\n');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new TeleCoderError(`telecoder: ${file} cannot be read (${(error as Error).message}); fix its permissions or delete it`);
    }
    lines = ['# TeleCoder settings, written by `telecoder config`. The environment and ./.env override them.'];
  }
  for (const [key, value] of Object.entries(updates)) {
    const line = value === undefined ? undefined : envLine(key, value);
    if (value !== undefined && line === undefined) {
      throw new TeleCoderError(`telecoder: ${key} cannot be stored: its value holds all three kinds of quote or a line break; use a value without them`);
    }
    const at = lines.findIndex((existing) => new RegExp(`^\\s*(export\\s+)?${key}\\s*=`).test(existing));
    if (at === -1) {
      if (line !== undefined) lines.push(line);
    } else if (line === undefined) {
      lines.splice(at, 1);
    } else {
      lines[at] = line;
    }
  }
  const dir = dirname(file);
  const temporary = join(dir, `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    try {
      chmodSync(dir, 0o700);
    } catch {
      // Not ours to change (a volume owned by another user): the file's own 0600 still holds.
    }
    writeFileSync(temporary, `${lines.join('\n')}\n`, { mode: 0o600, flag: 'wx' });
    renameSync(temporary, file);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw new TeleCoderError(`telecoder: ${file} could not be written (${(error as Error).message}); make TELECODER_DATA_DIR writable by this user`);
  }
}
