import { randomBytes } from 'node:crypto';
import { configFilePath, readConfigFile, writeConfigFile } from '../../config/config-file.js';
import { CliError } from '../cli-io.js';
import { checkSetting, maskSecret } from '../config-keys.js';
import type { LineReader } from '../line-reader.js';
import type { ConfigContext } from './config-commands.js';

const PROVIDERS = ['anthropic', 'openai'] as const;
const KEY_OF = { anthropic: 'ANTHROPIC_API_KEY', openai: 'OPENAI_API_KEY' } as const;

class SetupEnded extends CliError {
  constructor(file: string) {
    super(`setup ended before it was finished; nothing was written to ${file}. Run \`telecoder config setup\` again`, 1);
  }
}

/**
 * `telecoder config setup`: asks for the LLM provider and its key, GITHUB_TOKEN and, optionally,
 * TELECODER_API_TOKEN, then writes them to the config file at once. Enter keeps what the file
 * already holds; keys are typed without echo on a terminal.
 */
export async function configSetupCommand(context: ConfigContext & { reader: LineReader }): Promise<number> {
  const { reader, out } = context;
  const file = configFilePath(context.env);
  const saved = readConfigFile(file);
  const updates: Record<string, string> = {};
  const ask = async (question: string, secret = false) => {
    const answer = await reader.ask(question, { secret });
    if (answer === undefined) throw new SetupEnded(file);
    return answer.trim();
  };
  const current = (key: string, secret: boolean) =>
    saved[key] ? ` [${secret ? maskSecret(saved[key]) : saved[key]}; Enter keeps it]` : '';

  out(`TeleCoder settings go to ${file} (readable by you only). The environment and ./.env override them.`);

  let provider: (typeof PROVIDERS)[number] | undefined;
  const fallback = PROVIDERS.find((name) => name === saved.TELECODER_LLM_PROVIDER) ?? 'anthropic';
  while (!provider) {
    const answer = (await ask(`LLM provider, anthropic or openai [${fallback}]: `)).toLowerCase() || fallback;
    provider = PROVIDERS.find((name) => name === answer);
    if (!provider) out(`"${answer}" is not a provider TeleCoder speaks to; answer anthropic or openai`);
  }
  updates.TELECODER_LLM_PROVIDER = provider;

  const keyName = KEY_OF[provider];
  const key = await ask(`${keyName}${current(keyName, true)}: `, true);
  if (key) updates[keyName] = key;
  else if (!saved[keyName]) out(`No ${keyName}: sessions will fail until it is set (\`telecoder config set ${keyName} …\`).`);

  const github = await ask(`GITHUB_TOKEN, a token with contents and pull requests write access${current('GITHUB_TOKEN', true) || ' (Enter to skip: local repositories only)'}: `, true);
  if (github) updates.GITHUB_TOKEN = github;

  const api = await ask(
    `TELECODER_API_TOKEN, needed only when the server listens beyond loopback${current('TELECODER_API_TOKEN', true) || ''} (Enter to skip, "generate" for a random one): `,
    true,
  );
  if (api === 'generate') {
    updates.TELECODER_API_TOKEN = randomBytes(24).toString('base64url');
    out(`Generated TELECODER_API_TOKEN: ${updates.TELECODER_API_TOKEN} (clients send it as --token, or read it from this file on this machine)`);
  } else if (api) {
    updates.TELECODER_API_TOKEN = api;
  }

  for (const [name, value] of Object.entries(updates)) checkSetting(name, value);
  writeConfigFile(file, updates);
  out(`Saved ${Object.keys(updates).join(', ')} in ${file}. Start the server with \`telecoder serve\`.`);
  return 0;
}
