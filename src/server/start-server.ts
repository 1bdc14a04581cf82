import { existsSync } from 'node:fs';
import { loadConfig } from '../config/config.js';
import { TeleCoderBuilder } from '../telecoder.js';

export interface StartServerOptions {
  /** The environment to configure from; default process.env plus ./.env (the shell wins). */
  env?: NodeJS.ProcessEnv;
}

/** `telecoder serve`: the configured application, started. */
export async function startServer(options: StartServerOptions = {}): Promise<{ url: string; close(): Promise<void> }> {
  if (!options.env && existsSync('.env')) process.loadEnvFile('.env');
  const config = loadConfig(options.env ?? process.env);
  const app = new TeleCoderBuilder().withConfig(config).build();
  await app.start();
  return { url: app.url, close: () => app.stop() };
}
