import { existsSync } from 'node:fs';
import { configFileDefaults } from '../config/config-file.js';
import { loadConfig } from '../config/config.js';
import { TeleCoderBuilder } from '../telecoder.js';
import { startupSummary } from './startup-summary.js';

export interface StartServerOptions {
  /** The environment to configure from; default process.env plus ./.env, then the data dir's config.env (the shell wins). */
  env?: NodeJS.ProcessEnv;
}

/** `telecoder serve`: the configured application, started. */
export async function startServer(options: StartServerOptions = {}): Promise<{ url: string; summary: string; close(): Promise<void> }> {
  const env = options.env ?? process.env;
  // .env fills in what the shell did not set; a caller's own environment object is left alone.
  if (env === process.env && existsSync('.env')) process.loadEnvFile('.env');
  // Then what `telecoder config` saved, last: it never overrides the shell or ./.env. Into
  // process.env itself, as .env is, since parts of Probot read it directly.
  if (env === process.env) Object.assign(process.env, configFileDefaults(process.env));
  const config = loadConfig(env);
  const app = new TeleCoderBuilder().withConfig(config).build();
  await app.start();
  return { url: app.url, summary: startupSummary(config, app.url), close: () => app.stop() };
}
