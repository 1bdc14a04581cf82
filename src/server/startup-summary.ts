import type { Config } from '../config/config.js';
import { configuredProvider, DEFAULT_MODELS } from '../llm/create-llm-client.js';
import { SETUP_LINK_PATH } from './setup-access.js';

const DEFAULT_GITHUB_API = 'https://api.github.com';

/**
 * What `telecoder serve` prints once it listens: one block that says what is on and what is
 * missing, so nobody has to read the log (or the absence of an error) to find out. `url` is the
 * listening address; links use TELECODER_PUBLIC_URL when it is set.
 */
export function startupSummary(config: Config, url: string): string {
  const base = config.publicUrl ?? url;
  const rows: Array<[string, string]> = [
    ['LLM', llmLine(config.llm)],
    ['Git host', gitHostLine(config)],
    ['Sandbox', `image ${config.sandbox.image}; egress ${egressLine(config.sandbox)}`],
    ['API', config.apiToken ? `on at ${base}/api (bearer token: TELECODER_API_TOKEN)` : `on at ${base}/api (no token: loopback only)`],
    ['GitHub App', githubAppLine(config, base)],
    [
      'Local repos',
      config.allowLocalRepos ? 'allowed (a path on this machine as the repository)' : 'not allowed (TELECODER_ALLOW_LOCAL_REPOS=true allows them)',
    ],
    ['Slack', slackLine(config.slack)],
    ['Telegram', telegramLine(config.telegram)],
  ];
  const width = Math.max(...rows.map(([label]) => label.length)) + 1;
  return [`TeleCoder is listening on ${url}`, ...rows.map(([label, text]) => `  ${`${label}:`.padEnd(width)} ${text}`)].join('\n');
}

function llmLine(llm: Config['llm']): string {
  const provider = configuredProvider(llm);
  if (!provider) return 'no LLM key: set ANTHROPIC_API_KEY or OPENAI_API_KEY (sessions fail until one is set)';
  const key = provider === 'anthropic' ? llm.anthropicApiKey : llm.openaiApiKey;
  const baseUrl = provider === 'anthropic' ? llm.anthropicBaseUrl : llm.openaiBaseUrl;
  // An OpenAI-compatible server of one's own (Ollama) may need no key; the providers' own APIs do.
  if (!key && !(provider === 'openai' && baseUrl)) {
    return `${provider} chosen by TELECODER_LLM_PROVIDER, but ${provider === 'anthropic' ? 'ANTHROPIC_API_KEY' : 'OPENAI_API_KEY'} is not set: set it`;
  }
  return `${provider}, model ${llm.model ?? DEFAULT_MODELS[provider]}${baseUrl ? ` at ${baseUrl}` : ''}`;
}

function gitHostLine(config: Config): string {
  const where = config.githubApiUrl === DEFAULT_GITHUB_API ? 'GitHub' : `GitHub at ${config.githubApiUrl}`;
  if (config.githubApp.appId && config.githubApp.privateKey) return `${where}, GitHub App ${config.githubApp.appId} (installation tokens)`;
  if (config.githubToken) return `${where}, GitHub token (GITHUB_TOKEN)`;
  return 'none: local repositories only (set GITHUB_TOKEN, or set up the GitHub App, for owner/name repositories)';
}

function egressLine(sandbox: Config['sandbox']): string {
  switch (sandbox.egress) {
    case 'registries': {
      const extra = sandbox.egressAllow.length > 0 ? ` and ${sandbox.egressAllow.join(', ')}` : '';
      return `registries (package registries${extra} only)`;
    }
    case 'open':
      return 'open (any public host; never this host or private addresses)';
    case 'none':
      return 'none (no network)';
  }
}

function githubAppLine(config: Config, base: string): string {
  const app = config.githubApp;
  if (app.appId && app.privateKey) {
    const proxy = app.webhookProxyUrl ? `, forwarded from ${app.webhookProxyUrl}` : '';
    return `App ${app.appId}: webhooks on at ${base}${app.webhookPath}${proxy}`;
  }
  return config.apiToken
    ? `not configured: set it up from a browser with a link from POST ${base}${SETUP_LINK_PATH} (API token required)`
    : `not configured: set it up at ${base}/probot`;
}

function slackLine(slack: Config['slack']): string {
  if (!slack) return 'off (set SLACK_BOT_TOKEN and SLACK_APP_TOKEN to turn it on: docs/slack-setup.md)';
  const ids = (slack.allowedUsers ?? '').split(/[\s,]+/).filter(Boolean);
  const who =
    ids.length === 0
      ? 'nobody allowed yet (SLACK_ALLOWED_USERS: user ids, or *)'
      : ids.includes('*')
        ? 'everyone in the workspace allowed'
        : `${ids.length} user(s) allowed`;
  const where = slack.apiUrl === 'https://slack.com/api/' ? '' : ` via ${slack.apiUrl}`;
  return `on (Socket Mode${where}); ${who}; default repo ${slack.defaultRepo ?? 'none (--repo required)'}`;
}

function telegramLine(telegram: Config['telegram']): string {
  if (!telegram) return 'off (set TELEGRAM_BOT_TOKEN to turn it on: docs/telegram-setup.md)';
  const who = !telegram.allowedUsers
    ? 'nobody allowed yet: set TELEGRAM_ALLOWED_USERS'
    : telegram.allowedUsers === '*' || telegram.allowedUsers.split(',').includes('*')
      ? 'everyone allowed'
      : `${telegram.allowedUsers.split(',').length} user(s) allowed`;
  const where = telegram.apiRoot === 'https://api.telegram.org' ? '' : ` via ${telegram.apiRoot}`;
  return `on (long polling${where}); ${who}; default repo ${telegram.defaultRepo ?? 'none (--repo required)'}`;
}
