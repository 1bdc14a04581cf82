import { configFilePath, readConfigFile, writeConfigFile } from '../../config/config-file.js';
import { checkSetting, isSecret, maskSecret } from '../config-keys.js';

/** What the config commands need: no server, only where the file is and somewhere to write. */
export interface ConfigContext {
  /** The environment and ./.env, merged: TELECODER_DATA_DIR picks the file. */
  env: NodeJS.ProcessEnv;
  out(line: string): void;
  err(line: string): void;
}

/** `telecoder config path`. */
export function configPathCommand(context: ConfigContext): number {
  context.out(configFilePath(context.env));
  return 0;
}

/** `telecoder config show`: the file's settings, secrets masked, and which ones something else overrides. */
export function configShowCommand(context: ConfigContext, options: { environment: NodeJS.ProcessEnv }): number {
  const file = configFilePath(context.env);
  const values = readConfigFile(file);
  context.out(`# ${file}`);
  const keys = Object.keys(values).sort();
  if (keys.length === 0) context.out('# (no settings yet: `telecoder config setup` asks for the keys, `telecoder config set KEY VALUE` sets one)');
  for (const key of keys) {
    const value = values[key]!;
    const shown = isSecret(key) ? maskSecret(value) : value;
    const used = options.environment[key];
    // The environment and ./.env win over the file: say so, or the value shown would mislead.
    const note = used !== undefined && used !== value ? '   # not used: the environment or ./.env sets it' : '';
    context.out(`${key}=${shown}${note}`);
  }
  return 0;
}

/** `telecoder config set KEY VALUE`. */
export function configSetCommand(context: ConfigContext, key: string, value: string): number {
  checkSetting(key, value);
  const file = configFilePath(context.env);
  writeConfigFile(file, { [key]: value });
  context.out(`${key} saved in ${file}`);
  return 0;
}

/** `telecoder config unset KEY`. */
export function configUnsetCommand(context: ConfigContext, key: string): number {
  checkSetting(key, undefined);
  const file = configFilePath(context.env);
  if (readConfigFile(file)[key] === undefined) {
    context.out(`${key} is not set in ${file}`);
    return 0;
  }
  writeConfigFile(file, { [key]: undefined });
  context.out(`${key} removed from ${file}`);
  return 0;
}
