import { existsSync } from 'node:fs';
import { loadConfig } from '../config/config.js';
import { TeleCoderBuilder } from '../telecoder.js';

export interface StartServerOptions {
  /** The environment to configure from; default process.env plus ./.env (the shell wins). */
  env?: NodeJS.ProcessEnv;
}

/** `telecoder serve`: the configured application, started. */
export async function startServer(options: StartServerOptions = {}): Promise<{ url: string; close(): Promise<void> }> {
  const env = options.env ?? process.env;
  // .env fills in what the shell did not set; a caller's own environment object is left alone.
  if (env === process.env && existsSync('.env')) process.loadEnvFile('.env');
  const config = loadConfig(env);
  const app = new TeleCoderBuilder().withConfig(config).build();
  await app.start();
  return { url: app.url, close: () => app.stop() };
}
