import { CONFIG_KEYS, configValueProblem } from '../config/config.js';
import { UsageError } from './cli-io.js';
import { closeNames } from './close-names.js';
import { parseTimeout } from './parse-timeout.js';
import { serverUrl } from './server-url.js';

/** What the CLI itself reads (the server reads CONFIG_KEYS). */
const CLI_KEYS: Record<string, (value: string) => unknown> = {
  TELECODER_SERVER: (value) => serverUrl(value),
  TELECODER_TIMEOUT: (value) => parseTimeout(value, 'TELECODER_TIMEOUT'),
};

/** The file is found through the data dir, so it cannot name the data dir itself. */
const NOT_IN_FILE = new Set(['TELECODER_DATA_DIR']);

/** Every key `telecoder config set` takes, sorted. */
export function settableKeys(): string[] {
  return [...new Set([...CONFIG_KEYS, ...Object.keys(CLI_KEYS)])].filter((key) => !NOT_IN_FILE.has(key)).sort();
}

/** Throws a UsageError that says what to do when `key` cannot be set to `value`. */
export function checkSetting(key: string, value: string | undefined): void {
  if (NOT_IN_FILE.has(key)) {
    throw new UsageError(`${key} cannot be set in the config file, which lives in the data dir; set it in the environment or ./.env`);
  }
  if (!settableKeys().includes(key)) {
    const close = closeNames(key, settableKeys());
    const hint = close.length > 0 ? `did you mean ${close.join(', ')}?` : 'see README "Configuration" for the settings';
    throw new UsageError(`${key} is not a TeleCoder setting; ${hint} (\`telecoder config set --help\` lists them all)`);
  }
  if (value === undefined) return;
  const check = CLI_KEYS[key];
  if (check) {
    try {
      check(value);
    } catch (error) {
      throw new UsageError((error as Error).message.replace(/^--server/, key));
    }
    return;
  }
  const problem = configValueProblem(key, value);
  if (problem) throw new UsageError(problem);
}

/** Keys whose values `config show` and `config setup` never print in full. */
export function isSecret(key: string): boolean {
  return /TOKEN|KEY|SECRET|PASSWORD/.test(key) && !key.endsWith('_PATH');
}

/** The last four characters, for recognising which key is set; the whole of a short one is hidden. */
export function maskSecret(value: string): string {
  return value.length >= 12 ? `****${value.slice(-4)}` : '****';
}
