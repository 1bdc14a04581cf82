import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { TeleCoderError } from '../errors.js';

/** The file, inside the data dir, where the setup pages keep a registered GitHub App's keys. */
export const GITHUB_APP_ENV_FILE = 'github-app.env';

/** What the file may hold, in the order it is written. The client id and secret are kept for the person only. */
const WRITTEN_KEYS = ['APP_ID', 'PRIVATE_KEY', 'WEBHOOK_SECRET', 'GITHUB_CLIENT_ID', 'GITHUB_CLIENT_SECRET'] as const;
/** What TeleCoder takes from it. */
const READ_KEYS = ['APP_ID', 'PRIVATE_KEY', 'WEBHOOK_SECRET'] as const;
/** An environment that sets any of these names its own App; the file is then not read, so two Apps' keys never mix. */
const APP_IN_ENV = ['APP_ID', 'PRIVATE_KEY', 'PRIVATE_KEY_PATH', 'WEBHOOK_SECRET'] as const;

export function githubAppEnvPath(dataDir: string): string {
  return join(dataDir, GITHUB_APP_ENV_FILE);
}

/** The App keys saved in the data dir; {} when there is no file. */
export function readGitHubAppEnv(dataDir: string): Record<string, string> {
  const file = githubAppEnvPath(dataDir);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new TeleCoderError(`telecoder: ${file} cannot be read (${(error as Error).message}); fix its permissions, or delete it and register the GitHub App again`);
  }
  const parsed = parseEnv(text) as Record<string, string | undefined>;
  const values: Record<string, string> = {};
  for (const key of READ_KEYS) {
    const value = parsed[key]?.trim();
    if (value) values[key] = value;
  }
  return values;
}

/**
 * The environment with the saved App filled in, when the environment names no App of its own.
 * Values already in the environment are never overridden (blank ones count as unset, as
 * everywhere in the configuration).
 */
export function withSavedGitHubApp(env: NodeJS.ProcessEnv, dataDir: string): NodeJS.ProcessEnv {
  if (APP_IN_ENV.some((key) => env[key]?.trim())) return env;
  const saved = readGitHubAppEnv(dataDir);
  return Object.keys(saved).length === 0 ? env : { ...env, ...saved };
}

/** Double-quoted, newlines as \n: the form process.loadEnvFile and util.parseEnv read back. */
function quote(key: string, value: string): string {
  const text = key === 'PRIVATE_KEY' ? value.replace(/\r\n/g, '\n') : value;
  // Inside double quotes a backslash or quote would not survive the round trip, and a raw
  // control character could start a line of its own.
  if (/["\\\u0000-\u0009\u000b-\u001f\u007f]/.test(text) || (key !== 'PRIVATE_KEY' && text.includes('\n'))) {
    throw new TeleCoderError(`telecoder: ${key} cannot be stored: it contains a quote, a backslash or a control character; use a value without them`, 400);
  }
  return `"${text.replaceAll('\n', '\\n')}"`;
}

/**
 * Writes the App's keys to `<dataDir>/github-app.env`, readable by this user only: the directory
 * is made 0700, the file is created 0600 under a temporary name and renamed into place, so no
 * reader ever sees it half written or with wider permissions. Returns the file's path.
 */
export function writeGitHubAppEnv(dataDir: string, values: Record<string, string | undefined>): string {
  const file = githubAppEnvPath(dataDir);
  const lines = WRITTEN_KEYS.filter((key) => values[key]).map((key) => `${key}=${quote(key, values[key]!)}`);
  const text = `# The GitHub App registered through TeleCoder's setup pages. Read at start-up unless the\n# environment sets APP_ID, PRIVATE_KEY, PRIVATE_KEY_PATH or WEBHOOK_SECRET itself.\n${lines.join('\n')}\n`;
  const temporary = join(dataDir, `.${GITHUB_APP_ENV_FILE}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    try {
      chmodSync(dataDir, 0o700);
    } catch {
      // Not ours to change (a volume owned by another user): the file's own 0600 still holds.
    }
    writeFileSync(temporary, text, { mode: 0o600, flag: 'wx' });
    renameSync(temporary, file);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw new TeleCoderError(`telecoder: the GitHub App's keys could not be saved to ${file} (${(error as Error).message}); make TELECODER_DATA_DIR writable by this user`, 500);
  }
  return file;
}
