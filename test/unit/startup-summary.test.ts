import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { startupSummary } from '../../src/server/startup-summary.js';

// A data dir without a saved GitHub App, so the machine's own ~/.telecoder cannot change the text.
const NO_SAVED_APP = { TELECODER_DATA_DIR: '/nonexistent/telecoder-summary-test' };

function summaryFor(env: Record<string, string>, url = 'http://127.0.0.1:7080'): string {
  return startupSummary(loadConfig({ ...NO_SAVED_APP, ...env }), url);
}

describe('startupSummary', () => {
  it('says what is missing on a fresh machine, and that the API and local repositories work', () => {
    expect(summaryFor({})).toBe(
      [
        'TeleCoder is listening on http://127.0.0.1:7080',
        '  LLM:         no LLM key: set ANTHROPIC_API_KEY or OPENAI_API_KEY (sessions fail until one is set)',
        '  Git host:    none: local repositories only (set GITHUB_TOKEN, or set up the GitHub App, for owner/name repositories)',
        '  Sandbox:     image telecoder-sandbox; egress registries (package registries only)',
        '  API:         on at http://127.0.0.1:7080/api (no token: loopback only)',
        '  GitHub App:  not configured: set it up at http://127.0.0.1:7080/probot',
        '  Local repos: allowed (a path on this machine as the repository)',
        '  Slack:       off (set SLACK_BOT_TOKEN and SLACK_APP_TOKEN to turn it on: docs/slack-setup.md)',
        '  Telegram:    off (set TELEGRAM_BOT_TOKEN to turn it on: docs/telegram-setup.md)',
      ].join('\n'),
    );
  });

  it('says whether Telegram is on, who may use it, and which Bot API server it polls', () => {
    expect(summaryFor({ TELEGRAM_BOT_TOKEN: '123:abc' })).toContain(
      'Telegram:    on (long polling); nobody allowed yet: set TELEGRAM_ALLOWED_USERS; default repo none (--repo required)',
    );
    expect(
      summaryFor({ TELEGRAM_BOT_TOKEN: '123:abc', TELEGRAM_ALLOWED_USERS: '1, 2', TELEGRAM_DEFAULT_REPO: 'acme/widgets', TELEGRAM_API_ROOT: 'http://127.0.0.1:8081/' }),
    ).toContain('Telegram:    on (long polling via http://127.0.0.1:8081); 2 user(s) allowed; default repo acme/widgets');
    expect(summaryFor({ TELEGRAM_BOT_TOKEN: '123:abc', TELEGRAM_ALLOWED_USERS: '*' })).toContain('everyone allowed');
  });

  it('says whether Slack is on, who may use it, and which Web API it connects through', () => {
    const tokens = { SLACK_BOT_TOKEN: 'xoxb-1', SLACK_APP_TOKEN: 'xapp-1' };
    expect(summaryFor(tokens)).toContain(
      'Slack:       on (Socket Mode); nobody allowed yet (SLACK_ALLOWED_USERS: user ids, or *); default repo none (--repo required)',
    );
    expect(
      summaryFor({ ...tokens, SLACK_ALLOWED_USERS: 'U1, U2', SLACK_DEFAULT_REPO: 'acme/widgets', SLACK_API_URL: 'http://127.0.0.1:9000/api' }),
    ).toContain('Slack:       on (Socket Mode via http://127.0.0.1:9000/api/); 2 user(s) allowed; default repo acme/widgets');
    expect(summaryFor({ ...tokens, SLACK_ALLOWED_USERS: '*' })).toContain('everyone in the workspace allowed');
  });

  it('names the provider, model and base URL the sessions will use', () => {
    expect(summaryFor({ ANTHROPIC_API_KEY: 'sk-ant-x' })).toContain('LLM:         anthropic, model claude-sonnet-4-6\n');
    expect(summaryFor({ OPENAI_API_KEY: 'sk-x', TELECODER_MODEL: 'gpt-5' })).toContain('LLM:         openai, model gpt-5\n');
    // A local OpenAI-compatible server needs no key.
    expect(summaryFor({ TELECODER_LLM_PROVIDER: 'openai', OPENAI_BASE_URL: 'http://localhost:11434/v1', TELECODER_MODEL: 'qwen3' })).toContain(
      'LLM:         openai, model qwen3 at http://localhost:11434/v1\n',
    );
    expect(summaryFor({ TELECODER_LLM_PROVIDER: 'anthropic', OPENAI_API_KEY: 'sk-x' })).toContain(
      'LLM:         anthropic chosen by TELECODER_LLM_PROVIDER, but ANTHROPIC_API_KEY is not set: set it\n',
    );
  });

  it('tells a GitHub token from a GitHub App, and names an Enterprise Server', () => {
    expect(summaryFor({ GITHUB_TOKEN: 'ghp_x' })).toContain('Git host:    GitHub, GitHub token (GITHUB_TOKEN)\n');
    expect(summaryFor({ GITHUB_TOKEN: 'ghp_x', GHE_HOST: 'github.example.com' })).toContain(
      'Git host:    GitHub at https://github.example.com/api/v3, GitHub token (GITHUB_TOKEN)\n',
    );
    const app = summaryFor({
      APP_ID: '4242',
      PRIVATE_KEY: 'a key',
      WEBHOOK_SECRET: 's3cret',
      WEBHOOK_PROXY_URL: 'https://smee.io/abc',
      TELECODER_PUBLIC_URL: 'https://telecoder.example.com',
    });
    expect(app).toContain('Git host:    GitHub, GitHub App 4242 (installation tokens)\n');
    expect(app).toContain('GitHub App:  App 4242: webhooks on at https://telecoder.example.com/api/github/webhooks, forwarded from https://smee.io/abc\n');
  });

  it('gives the egress policy, and the setup link and local-repository setting of a server beyond loopback', () => {
    const wide = summaryFor(
      { TELECODER_ADDR: '0.0.0.0:7080', TELECODER_API_TOKEN: 'token', TELECODER_EGRESS_ALLOW: 'git.example.com', TELECODER_DOCKER_IMAGE: 'my-sandbox' },
      'http://0.0.0.0:7080',
    );
    expect(wide).toContain('Sandbox:     image my-sandbox; egress registries (package registries and git.example.com only)\n');
    expect(wide).toContain('API:         on at http://0.0.0.0:7080/api (bearer token: TELECODER_API_TOKEN)\n');
    expect(wide).toContain('GitHub App:  not configured: set it up from a browser with a link from POST http://0.0.0.0:7080/probot/link (API token required)\n');
    expect(wide).toMatch(/Local repos: not allowed \(TELECODER_ALLOW_LOCAL_REPOS=true allows them\)$/m);
    expect(summaryFor({ TELECODER_EGRESS: 'none' })).toContain('egress none (no network)');
    expect(summaryFor({ TELECODER_EGRESS: 'open' })).toContain('egress open (any public host; never this host or private addresses)');
  });
});
