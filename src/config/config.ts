import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import bytes from 'bytes';
import ms from 'ms';
import { z } from 'zod';
import { TeleCoderError } from '../errors.js';
import { withSavedGitHubApp } from './github-app-env-file.js';
import { hostVariable, urlVariable } from './url-variable.js';
import { parsePriceOverrides, type PriceTable } from '../pipeline/pricing.js';
import { parseStageNames, type BuiltinStageName } from '../pipeline/stage-names.js';
import { LOG_FORMATS, type LogFormat } from '../log-format.js';
import { CODING_AGENT_CHOICES, type CodingAgentChoice } from '../agent/agent-names.js';

/**
 * Every setting TeleCoder reads from the environment, parsed once at start-up. The names of the
 * original system's variables are kept with their meanings (see README "Configuration").
 */
export interface Config {
  /** host:port the server listens on. */
  addr: { host: string; port: number };
  /** Required whenever `addr.host` is not a loopback address. */
  apiToken: string | undefined;
  /**
   * TELECODER_PUBLIC_URL: the address people and GitHub use when it is not the listening one (a
   * reverse proxy, a tunnel). Requests naming its host are served on a loopback address too.
   */
  publicUrl: string | undefined;
  dataDir: string;

  githubToken: string | undefined;
  /** Base URL of GitHub's REST API (GitHub Enterprise Server: https://HOST/api/v3). */
  githubApiUrl: string;
  /** Base URL git clones from and pushes to, e.g. https://github.com. */
  githubGitUrl: string;
  /** TELECODER_GITHUB_WRITE_INTERVAL: least time between two content-creating GitHub requests, process-wide. */
  githubWriteIntervalMs: number;
  /** Allow repositories given as a path on the server's disk (local mode). */
  allowLocalRepos: boolean;
  /** The GitHub App (Probot). Without appId and privateKey the server runs without it. */
  githubApp: {
    appId: string | undefined;
    privateKey: string | undefined;
    webhookSecret: string | undefined;
    webhookPath: string;
    /** smee.io-style channel that forwards webhooks to this server (development). */
    webhookProxyUrl: string | undefined;
    /** The label that makes an issue a task, unless a repository configures its own. */
    triggerLabel: string;
  };

  llm: {
    provider: 'anthropic' | 'openai' | undefined;
    anthropicApiKey: string | undefined;
    anthropicBaseUrl: string | undefined;
    openaiApiKey: string | undefined;
    openaiBaseUrl: string | undefined;
    /** Model for the coding agent; undefined picks the provider's default. */
    model: string | undefined;
    plannerModel: string | undefined;
    /** Retries of a failed LLM request (429, 5xx, connection errors) before the session fails. */
    maxRetries: number;
    requestTimeoutMs: number;
    /** TELECODER_ALLOWED_MODELS: the only models sessions and external agents may use (empty: any). */
    allowedModels: string[];
  };

  sandbox: {
    image: string;
    /** Base image when the sandbox image has to be built (an air-gapped site passes its own). */
    baseImage: string;
    /** TELECODER_SANDBOX_CA_CERTS: a PEM file of extra CAs the sandbox image trusts (a TLS-inspecting proxy). */
    caCertsFile: string | undefined;
    memoryBytes: number;
    cpus: number;
    pids: number;
    wallClockMs: number;
    /** TELECODER_DEPENDENCY_CACHE: mount a per-repository cache volume for package managers. */
    dependencyCache: boolean;
    /** TELECODER_SNAPSHOT_MIN_FILES: repositories this big get a workspace snapshot image. */
    snapshotMinFiles: number;
    /**
     * TELECODER_WARM_SANDBOXES: sandboxes kept created and started for the next sessions of the
     * repositories used last (the warm pool); 0 turns it off.
     */
    warmSandboxes: number;
    /**
     * TELECODER_EGRESS: what a sandbox may reach. `registries` (default): only the package
     * registries and `egressAllow`, through TeleCoder's proxy; `none`: nothing; `open`: anything
     * (the host and other sandboxes still not).
     */
    egress: EgressPolicy;
    /** TELECODER_EGRESS_ALLOW: extra host names (`*.example.com` for subdomains) allowed under `registries`. */
    egressAllow: string[];
    /** TELECODER_SANDBOX_DISK: what a sandbox may write (workspace, /tmp, caches it fills); past it the session ends. */
    diskBytes: number;
  };

  /** What one change may expand to, checked in the sandbox before anything is moved. */
  change: {
    /** TELECODER_MAX_CHANGE_SIZE: the changed files' total size. */
    maxBytes: number;
    /** TELECODER_MAX_CHANGE_FILES: the number of changed files. */
    maxFiles: number;
  };
  /**
   * TELECODER_ALLOW_WORKFLOW_CHANGES: deliver changes under .github/workflows/ and
   * .github/actions/ (held back by default: CI would run them with the repository's secrets).
   */
  allowWorkflowChanges: boolean;

  agent: {
    /** TELECODER_CODING_AGENT: the agent sessions get unless they ask for another. */
    name: CodingAgentChoice;
    maxTurns: number;
    commandTimeoutMs: number;
    /** TELECODER_AGENT_TIMEOUT: how long an external agent's (Claude Code, OpenCode, Codex) run may take. */
    externalTimeoutMs: number;
  };

  /** The task pipeline (see README "Pipeline"). */
  pipeline: {
    /** TELECODER_STAGES: the built-in stages to run, in their fixed order. */
    stages: BuiltinStageName[];
    /** TELECODER_SETUP_TIMEOUT: all setup commands of a session together. */
    setupTimeoutMs: number;
    maxFixAttempts: number;
    /** Review (and verify judgement) model; undefined: the session's model. */
    reviewerModel: string | undefined;
    maxTokens: number | undefined;
    maxCostUsd: number | undefined;
    /** TELECODER_PRICES overrides (the defaults are added where the budget is made). */
    prices: PriceTable;
  };

  maxConcurrent: number;
  maxRevisions: number;
  maxSubtasks: number;
  chatIdleTimeoutMs: number;
  chatMaxMessages: number;
  logLevel: string;
  /** LOG_FORMAT; undefined: pretty on a terminal, JSON lines otherwise. */
  logFormat: LogFormat | undefined;

  /** The Telegram door: on when TELEGRAM_BOT_TOKEN is set (docs/telegram-setup.md). */
  telegram: TelegramConfig | undefined;

  /** The Slack door: on when SLACK_BOT_TOKEN and SLACK_APP_TOKEN are set (docs/slack-setup.md). */
  slack: SlackConfig | undefined;
}

export interface SlackConfig {
  /** SLACK_BOT_TOKEN: the bot user's OAuth token (xoxb-…), for the Web API. */
  botToken: string;
  /** SLACK_APP_TOKEN: the app-level token (xapp-…, scope connections:write), for Socket Mode. */
  appToken: string;
  /** SLACK_DEFAULT_REPO: the repository of a message without --repo. */
  defaultRepo: string | undefined;
  /** SLACK_ALLOWED_USERS: Slack user ids, or `*`; unset allows nobody. */
  allowedUsers: string | undefined;
  /** SLACK_API_URL: the Web API's base URL, ending in `/` (GovSlack, a test's stand-in). */
  apiUrl: string;
}

export interface TelegramConfig {
  /** TELEGRAM_BOT_TOKEN: the token BotFather gave. */
  botToken: string;
  /** TELEGRAM_DEFAULT_REPO: the repository of a message without --repo. */
  defaultRepo: string | undefined;
  /** TELEGRAM_ALLOWED_USERS: numeric user ids, or `*`; unset allows nobody. */
  allowedUsers: string | undefined;
  /** TELEGRAM_API_ROOT: the Bot API server (a self-hosted one, a test's stand-in). */
  apiRoot: string;
}

export const EGRESS_POLICIES = ['registries', 'open', 'none'] as const;
export type EgressPolicy = (typeof EGRESS_POLICIES)[number];

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK_HOSTS.has(host) || host.startsWith('127.');
}

function duration(name: string, fallback: string) {
  return z
    .string()
    .optional()
    .transform((value, ctx) => {
      const text = value?.trim() || fallback;
      const parsed = /^\d+$/.test(text) ? Number(text) * 1000 : ms(text as ms.StringValue);
      if (typeof parsed !== 'number' || !Number.isFinite(parsed) || parsed <= 0) {
        ctx.addIssue({ code: 'custom', message: `${name} must be a duration like 90s, 10m or 1h (got "${text}")` });
        return z.NEVER;
      }
      return parsed;
    });
}

function size(name: string, fallback: string) {
  return z
    .string()
    .optional()
    .transform((value, ctx) => {
      const text = value?.trim() || fallback;
      const parsed = bytes.parse(text);
      if (parsed === null || !Number.isFinite(parsed) || parsed <= 0) {
        ctx.addIssue({ code: 'custom', message: `${name} must be a size like 512mb or 2gb (got "${text}")` });
        return z.NEVER;
      }
      return parsed;
    });
}

function int(name: string, fallback: number, min = 1) {
  return z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value.trim() === '') return fallback;
      const parsed = Number(value);
      if (!Number.isInteger(parsed) || parsed < min) {
        ctx.addIssue({ code: 'custom', message: `${name} must be a whole number ≥ ${min} (got "${value}")` });
        return z.NEVER;
      }
      return parsed;
    });
}

function positiveNumber(name: string, fallback: number) {
  return z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value.trim() === '') return fallback;
      const parsed = Number(value);
      if (!Number.isFinite(parsed) || parsed <= 0) {
        ctx.addIssue({ code: 'custom', message: `${name} must be a positive number (got "${value}")` });
        return z.NEVER;
      }
      return parsed;
    });
}

function optionalPositive(name: string, integer: boolean) {
  return z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value.trim() === '') return undefined;
      const parsed = Number(value);
      if (!Number.isFinite(parsed) || parsed <= 0 || (integer && !Number.isInteger(parsed))) {
        ctx.addIssue({
          code: 'custom',
          message: `${name} must be a positive ${integer ? 'whole number' : 'number'}, or unset for no limit (got "${value}")`,
        });
        return z.NEVER;
      }
      return parsed;
    });
}

const optionalText = z
  .string()
  .optional()
  .transform((value) => (value && value.trim() !== '' ? value.trim() : undefined));

const boolText = (fallback: boolean) =>
  z
    .string()
    .optional()
    .transform((value) => {
      if (value === undefined || value.trim() === '') return fallback;
      return !['0', 'false', 'no', 'off'].includes(value.trim().toLowerCase());
    });

const envSchema = z.object({
  TELECODER_ADDR: optionalText,
  TELECODER_API_TOKEN: optionalText,
  TELECODER_PUBLIC_URL: z
    .string()
    .optional()
    .transform((value, ctx) => {
      const text = value?.trim();
      if (!text) return undefined;
      let url: URL | undefined;
      try {
        url = new URL(text);
      } catch {
        url = undefined;
      }
      if (!url || /\s/.test(text) || !['http:', 'https:'].includes(url.protocol) || url.username || url.password || url.search || url.hash) {
        ctx.addIssue({
          code: 'custom',
          message: `TELECODER_PUBLIC_URL must be the http(s) address people use to reach this server, like https://telecoder.example.com (got "${text}")`,
        });
        return z.NEVER;
      }
      return url.href.replace(/\/+$/, '');
    }),
  TELECODER_DATA_DIR: optionalText,
  GITHUB_TOKEN: optionalText,
  GITHUB_API_URL: urlVariable('GITHUB_API_URL', { example: 'https://api.github.com or https://HOST/api/v3' }),
  // file:// too: a directory of bare repositories (tests, mirrors on the server's disk).
  TELECODER_GIT_URL: urlVariable('TELECODER_GIT_URL', { example: 'https://github.com', extraProtocols: ['file:'] }),
  TELECODER_GITHUB_WRITE_INTERVAL: duration('TELECODER_GITHUB_WRITE_INTERVAL', '1s'),
  TELECODER_ALLOW_LOCAL_REPOS: z.string().optional(),
  APP_ID: optionalText,
  PRIVATE_KEY: optionalText,
  PRIVATE_KEY_PATH: optionalText,
  WEBHOOK_SECRET: optionalText,
  WEBHOOK_PATH: optionalText,
  WEBHOOK_PROXY_URL: urlVariable('WEBHOOK_PROXY_URL', { example: 'https://smee.io/your-channel' }),
  GHE_HOST: hostVariable('GHE_HOST', 'github.example.com'),
  GHE_PROTOCOL: z
    .enum(['http', 'https', ''], { error: () => 'GHE_PROTOCOL must be "https" or "http"' })
    .optional(),
  TELECODER_TRIGGER_LABEL: optionalText,
  TELECODER_LLM_PROVIDER: z
    .enum(['anthropic', 'openai', ''], {
      error: () => 'TELECODER_LLM_PROVIDER must be "anthropic" or "openai"',
    })
    .optional(),
  ANTHROPIC_API_KEY: optionalText,
  ANTHROPIC_BASE_URL: urlVariable('ANTHROPIC_BASE_URL', { example: 'https://api.anthropic.com' }),
  OPENAI_API_KEY: optionalText,
  OPENAI_BASE_URL: urlVariable('OPENAI_BASE_URL', { example: 'https://api.openai.com/v1 or http://localhost:11434/v1' }),
  TELECODER_MODEL: optionalText,
  TELECODER_PLANNER_MODEL: optionalText,
  TELECODER_LLM_MAX_RETRIES: int('TELECODER_LLM_MAX_RETRIES', 3, 0),
  TELECODER_LLM_TIMEOUT: duration('TELECODER_LLM_TIMEOUT', '10m'),
  TELECODER_DOCKER_IMAGE: optionalText,
  TELECODER_SANDBOX_BASE_IMAGE: optionalText,
  TELECODER_SANDBOX_CA_CERTS: optionalText,
  // Gone: a network of the operator's choosing would bypass the egress policy (docs/egress.md).
  TELECODER_DOCKER_NETWORK: z
    .string()
    .optional()
    .superRefine((value, ctx) => {
      if (!value?.trim()) return;
      ctx.addIssue({
        code: 'custom',
        message:
          "TELECODER_DOCKER_NETWORK is no longer supported: each sandbox gets a network of its own behind TeleCoder's egress proxy. " +
          'Remove it and choose what sandboxes may reach with TELECODER_EGRESS: registries (the default), open, or none (see docs/egress.md)',
      });
    }),
  TELECODER_SANDBOX_MEMORY: size('TELECODER_SANDBOX_MEMORY', '4gb'),
  TELECODER_SANDBOX_CPUS: positiveNumber('TELECODER_SANDBOX_CPUS', 2),
  TELECODER_SANDBOX_PIDS: int('TELECODER_SANDBOX_PIDS', 512),
  TELECODER_SANDBOX_TIMEOUT: duration('TELECODER_SANDBOX_TIMEOUT', '60m'),
  TELECODER_CODING_AGENT: z
    .enum([...CODING_AGENT_CHOICES, ''], {
      error: () => `TELECODER_CODING_AGENT must be one of ${CODING_AGENT_CHOICES.map((name) => `"${name}"`).join(', ')}`,
    })
    .optional(),
  TELECODER_AGENT_TIMEOUT: duration('TELECODER_AGENT_TIMEOUT', '30m'),
  TELECODER_ALLOWED_MODELS: z
    .string()
    .optional()
    .transform((value) => (value ?? '').split(/[\s,]+/).filter(Boolean)),
  TELECODER_MAX_TURNS: int('TELECODER_MAX_TURNS', 60),
  TELECODER_COMMAND_TIMEOUT: duration('TELECODER_COMMAND_TIMEOUT', '10m'),
  TELECODER_SETUP_TIMEOUT: duration('TELECODER_SETUP_TIMEOUT', '10m'),
  TELECODER_DEPENDENCY_CACHE: boolText(true),
  TELECODER_SNAPSHOT_MIN_FILES: int('TELECODER_SNAPSHOT_MIN_FILES', 2000, 0),
  TELECODER_WARM_SANDBOXES: int('TELECODER_WARM_SANDBOXES', 1, 0),
  TELECODER_EGRESS: z
    .enum([...EGRESS_POLICIES, ''], {
      error: () => 'TELECODER_EGRESS must be "registries" (package registries only), "none" or "open"',
    })
    .optional(),
  TELECODER_EGRESS_ALLOW: z
    .string()
    .optional()
    .transform((value, ctx) => {
      const hosts = (value ?? '').split(/[\s,]+/).filter(Boolean).map((host) => host.toLowerCase());
      const bad = hosts.filter((host) => !/^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(host));
      if (bad.length > 0) {
        ctx.addIssue({
          code: 'custom',
          message: `TELECODER_EGRESS_ALLOW must list host names separated by commas, like "git.example.com,*.internal.example" (not ${bad.map((host) => `"${host}"`).join(', ')})`,
        });
        return z.NEVER;
      }
      return hosts;
    }),
  TELECODER_SANDBOX_DISK: size('TELECODER_SANDBOX_DISK', '10gb'),
  TELECODER_MAX_CHANGE_SIZE: size('TELECODER_MAX_CHANGE_SIZE', '100mb'),
  TELECODER_MAX_CHANGE_FILES: int('TELECODER_MAX_CHANGE_FILES', 20_000),
  TELECODER_ALLOW_WORKFLOW_CHANGES: boolText(false),
  TELECODER_MAX_CONCURRENT: int('TELECODER_MAX_CONCURRENT', 2),
  TELECODER_MAX_REVISIONS: int('TELECODER_MAX_REVISIONS', 1, 0),
  TELECODER_MAX_SUBTASKS: int('TELECODER_MAX_SUBTASKS', 5),
  TELECODER_MAX_FIX_ATTEMPTS: int('TELECODER_MAX_FIX_ATTEMPTS', 2, 0),
  TELECODER_REVIEWER_MODEL: optionalText,
  TELECODER_MAX_TOKENS: optionalPositive('TELECODER_MAX_TOKENS', true),
  TELECODER_MAX_COST_USD: optionalPositive('TELECODER_MAX_COST_USD', false),
  TELECODER_PRICES: z.string().optional(),
  TELECODER_STAGES: z
    .string()
    .optional()
    .transform((value, ctx) => {
      const result = parseStageNames(value);
      if (typeof result === 'string') {
        ctx.addIssue({ code: 'custom', message: result });
        return z.NEVER;
      }
      return result;
    }),
  TELECODER_CHAT_IDLE_TIMEOUT: duration('TELECODER_CHAT_IDLE_TIMEOUT', '30m'),
  TELECODER_CHAT_MAX_MESSAGES: int('TELECODER_CHAT_MAX_MESSAGES', 50),
  SLACK_BOT_TOKEN: optionalText,
  SLACK_APP_TOKEN: optionalText,
  SLACK_DEFAULT_REPO: optionalText,
  SLACK_ALLOWED_USERS: optionalText,
  SLACK_API_URL: urlVariable('SLACK_API_URL', { example: 'https://slack.com/api/ or https://slack-gov.com/api/' }),
  TELEGRAM_BOT_TOKEN: optionalText,
  TELEGRAM_DEFAULT_REPO: optionalText,
  TELEGRAM_ALLOWED_USERS: z
    .string()
    .optional()
    .transform((value, ctx) => {
      const ids = (value ?? '').split(/[\s,]+/).filter(Boolean);
      const bad = ids.filter((id) => id !== '*' && !/^\d+$/.test(id));
      if (bad.length > 0) {
        // A @username here would silently allow nobody: Telegram ids are numbers (the bot tells each user theirs).
        ctx.addIssue({
          code: 'custom',
          message: `TELEGRAM_ALLOWED_USERS must list numeric Telegram user ids separated by commas, or * for everyone (not ${bad.map((id) => `"${id}"`).join(', ')}); a user who writes to the bot is told their id`,
        });
        return z.NEVER;
      }
      return ids.length > 0 ? ids.join(',') : undefined;
    }),
  TELEGRAM_API_ROOT: urlVariable('TELEGRAM_API_ROOT', { example: 'https://api.telegram.org or http://localhost:8081' }),
  LOG_LEVEL: optionalText,
  LOG_FORMAT: z
    .enum([...LOG_FORMATS, ''], { error: () => 'LOG_FORMAT must be "pretty" or "json" (unset: pretty on a terminal, JSON lines otherwise)' })
    .optional(),
});

/** Every variable the server reads: what `telecoder config set` accepts. */
export const CONFIG_KEYS: readonly string[] = Object.keys(envSchema.shape);

/** Why `value` is not a valid setting for `key` (the message the server would give), or undefined. */
export function configValueProblem(key: string, value: string): string | undefined {
  const field = (envSchema.shape as Record<string, z.ZodType>)[key];
  const parsed = field?.safeParse(value);
  return parsed && !parsed.success ? parsed.error.issues.map((issue) => issue.message).join('; ') : undefined;
}

/** Parses "host:port", ":port" or "port". An empty host means loopback, never all interfaces. */
export function parseAddr(text: string | undefined): { host: string; port: number } {
  const value = text ?? '127.0.0.1:7080';
  const match = /^(?:\[?([^\]]*?)\]?:)?(\d{1,5})$/.exec(value);
  const port = match ? Number(match[2]) : NaN;
  if (!match || port > 65535) {
    throw new TeleCoderError(
      `TELECODER_ADDR must look like 127.0.0.1:7080, 0.0.0.0:7080 or :7080 (got "${value}")`,
    );
  }
  return { host: match[1] || '127.0.0.1', port };
}

/**
 * PRIVATE_KEY holds the PEM itself (newlines may be written as \\n, as .env files need), or
 * PRIVATE_KEY_PATH names the file, as in Probot.
 */
function readPrivateKey(inline: string | undefined, path: string | undefined): string | undefined {
  if (inline) return inline.includes('\\n') ? inline.replaceAll('\\n', '\n') : inline;
  if (!path) return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new TeleCoderError(`telecoder: PRIVATE_KEY_PATH ${path} cannot be read (${(error as Error).message}); point it at the GitHub App's .pem file`);
  }
}

/**
 * The Slack door needs both tokens: the bot token for the Web API, the app-level one for the
 * Socket Mode connection. One without the other is a slip worth stopping for, not a door left off.
 */
function slackConfig(e: {
  SLACK_BOT_TOKEN?: string | undefined;
  SLACK_APP_TOKEN?: string | undefined;
  SLACK_DEFAULT_REPO?: string | undefined;
  SLACK_ALLOWED_USERS?: string | undefined;
  SLACK_API_URL?: string | undefined;
}): SlackConfig | undefined {
  const { SLACK_BOT_TOKEN: botToken, SLACK_APP_TOKEN: appToken } = e;
  if (!botToken && !appToken) return undefined;
  const problems: string[] = [];
  if (!botToken) problems.push('SLACK_APP_TOKEN is set but SLACK_BOT_TOKEN is not: set it to the Bot User OAuth Token (xoxb-…) from the Slack app\'s "OAuth & Permissions" page');
  if (!appToken) problems.push('SLACK_BOT_TOKEN is set but SLACK_APP_TOKEN is not: set it to an app-level token (xapp-…) with the connections:write scope, from the Slack app\'s "Basic Information" page');
  if (botToken && !botToken.startsWith('xoxb-')) problems.push('SLACK_BOT_TOKEN must be the Bot User OAuth Token, which starts with xoxb- (a user token, xoxp-, or the app-level token, xapp-, will not do)');
  if (appToken && !appToken.startsWith('xapp-')) problems.push('SLACK_APP_TOKEN must be an app-level token, which starts with xapp- (Basic Information → App-Level Tokens, scope connections:write)');
  if (problems.length > 0) throw new TeleCoderError(`telecoder: invalid configuration:\n${problems.map((problem) => `- ${problem}`).join('\n')}`);
  return {
    botToken: botToken!,
    appToken: appToken!,
    defaultRepo: e.SLACK_DEFAULT_REPO,
    allowedUsers: e.SLACK_ALLOWED_USERS,
    // The Web API client appends method names to it: it must end with a slash.
    apiUrl: (e.SLACK_API_URL ?? 'https://slack.com/api/').replace(/\/*$/, '/'),
  };
}

/** TELECODER_DATA_DIR, or ~/.telecoder. */
export function dataDirOf(env: NodeJS.ProcessEnv): string {
  return env.TELECODER_DATA_DIR?.trim() || join(homedir(), '.telecoder');
}

export function loadConfig(processEnv: NodeJS.ProcessEnv = process.env): Config {
  // A GitHub App registered through the setup pages is kept in the data dir; the environment wins.
  const env = withSavedGitHubApp(processEnv, dataDirOf(processEnv));
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `- ${issue.message}`).join('\n');
    throw new TeleCoderError(`telecoder: invalid configuration:\n${problems}`);
  }
  const e = parsed.data;
  const addr = parseAddr(e.TELECODER_ADDR);
  if (!isLoopbackHost(addr.host) && !e.TELECODER_API_TOKEN) {
    throw new TeleCoderError(
      `telecoder: TELECODER_ADDR listens on ${addr.host}, beyond loopback, so TELECODER_API_TOKEN must be set ` +
        `(any long random string; clients send it as "Authorization: Bearer <token>").`,
    );
  }
  let prices: PriceTable;
  try {
    prices = parsePriceOverrides(e.TELECODER_PRICES);
  } catch (error) {
    throw new TeleCoderError(`telecoder: invalid configuration:\n- ${(error as Error).message}`);
  }
  const privateKey = readPrivateKey(e.PRIVATE_KEY, e.PRIVATE_KEY_PATH);
  if (e.APP_ID && privateKey && !e.WEBHOOK_SECRET) {
    // Probot would fall back to the secret "development", which anyone can sign deliveries with.
    throw new TeleCoderError(
      'telecoder: APP_ID and a private key are set but WEBHOOK_SECRET is not. Set WEBHOOK_SECRET to the ' +
        "webhook secret of the GitHub App (its settings page, \"Webhook secret\"); without it anyone could forge deliveries.",
    );
  }
  const provider = e.TELECODER_LLM_PROVIDER || undefined;
  // GitHub Enterprise Server: Probot's GHE_HOST/GHE_PROTOCOL point the API and git at the host.
  const gheBase = e.GHE_HOST ? `${e.GHE_PROTOCOL || 'https'}://${e.GHE_HOST.replace(/\/+$/, '')}` : undefined;
  return {
    addr,
    apiToken: e.TELECODER_API_TOKEN,
    publicUrl: e.TELECODER_PUBLIC_URL,
    dataDir: dataDirOf(env),
    githubToken: e.GITHUB_TOKEN,
    githubApiUrl: (e.GITHUB_API_URL ?? (gheBase ? `${gheBase}/api/v3` : 'https://api.github.com')).replace(/\/+$/, ''),
    githubGitUrl: (e.TELECODER_GIT_URL ?? gheBase ?? 'https://github.com').replace(/\/+$/, ''),
    githubWriteIntervalMs: e.TELECODER_GITHUB_WRITE_INTERVAL,
    // A server reachable from other machines must not clone whatever repositories sit on its disk
    // for any API client, so local paths are on by default only on loopback.
    allowLocalRepos: boolText(isLoopbackHost(addr.host)).parse(e.TELECODER_ALLOW_LOCAL_REPOS),
    githubApp: {
      appId: e.APP_ID,
      privateKey,
      webhookSecret: e.WEBHOOK_SECRET,
      webhookPath: e.WEBHOOK_PATH ?? '/api/github/webhooks',
      webhookProxyUrl: e.WEBHOOK_PROXY_URL,
      triggerLabel: e.TELECODER_TRIGGER_LABEL ?? 'telecoder',
    },
    llm: {
      provider,
      anthropicApiKey: e.ANTHROPIC_API_KEY,
      anthropicBaseUrl: e.ANTHROPIC_BASE_URL,
      openaiApiKey: e.OPENAI_API_KEY,
      openaiBaseUrl: e.OPENAI_BASE_URL,
      model: e.TELECODER_MODEL,
      plannerModel: e.TELECODER_PLANNER_MODEL,
      maxRetries: e.TELECODER_LLM_MAX_RETRIES,
      requestTimeoutMs: e.TELECODER_LLM_TIMEOUT,
      allowedModels: e.TELECODER_ALLOWED_MODELS,
    },
    sandbox: {
      image: e.TELECODER_DOCKER_IMAGE ?? 'telecoder-sandbox',
      baseImage: e.TELECODER_SANDBOX_BASE_IMAGE ?? 'debian:bookworm-slim',
      caCertsFile: e.TELECODER_SANDBOX_CA_CERTS,
      memoryBytes: e.TELECODER_SANDBOX_MEMORY,
      cpus: e.TELECODER_SANDBOX_CPUS,
      pids: e.TELECODER_SANDBOX_PIDS,
      wallClockMs: e.TELECODER_SANDBOX_TIMEOUT,
      dependencyCache: e.TELECODER_DEPENDENCY_CACHE,
      snapshotMinFiles: e.TELECODER_SNAPSHOT_MIN_FILES,
      warmSandboxes: e.TELECODER_WARM_SANDBOXES,
      egress: e.TELECODER_EGRESS || 'registries',
      egressAllow: e.TELECODER_EGRESS_ALLOW,
      diskBytes: e.TELECODER_SANDBOX_DISK,
    },
    change: { maxBytes: e.TELECODER_MAX_CHANGE_SIZE, maxFiles: e.TELECODER_MAX_CHANGE_FILES },
    allowWorkflowChanges: e.TELECODER_ALLOW_WORKFLOW_CHANGES,
    agent: {
      name: e.TELECODER_CODING_AGENT || 'builtin',
      maxTurns: e.TELECODER_MAX_TURNS,
      commandTimeoutMs: e.TELECODER_COMMAND_TIMEOUT,
      externalTimeoutMs: e.TELECODER_AGENT_TIMEOUT,
    },
    pipeline: {
      stages: e.TELECODER_STAGES,
      setupTimeoutMs: e.TELECODER_SETUP_TIMEOUT,
      maxFixAttempts: e.TELECODER_MAX_FIX_ATTEMPTS,
      reviewerModel: e.TELECODER_REVIEWER_MODEL,
      maxTokens: e.TELECODER_MAX_TOKENS,
      maxCostUsd: e.TELECODER_MAX_COST_USD,
      prices,
    },
    maxConcurrent: e.TELECODER_MAX_CONCURRENT,
    maxRevisions: e.TELECODER_MAX_REVISIONS,
    maxSubtasks: e.TELECODER_MAX_SUBTASKS,
    chatIdleTimeoutMs: e.TELECODER_CHAT_IDLE_TIMEOUT,
    chatMaxMessages: e.TELECODER_CHAT_MAX_MESSAGES,
    logLevel: e.LOG_LEVEL ?? 'info',
    logFormat: e.LOG_FORMAT || undefined,
    slack: slackConfig(e),
    telegram: e.TELEGRAM_BOT_TOKEN
      ? {
          botToken: e.TELEGRAM_BOT_TOKEN,
          defaultRepo: e.TELEGRAM_DEFAULT_REPO,
          allowedUsers: e.TELEGRAM_ALLOWED_USERS,
          apiRoot: (e.TELEGRAM_API_ROOT ?? 'https://api.telegram.org').replace(/\/+$/, ''),
        }
      : undefined,
  };
}
