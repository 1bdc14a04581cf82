import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';

const NO_SAVED_APP = { TELECODER_DATA_DIR: '/nonexistent/telecoder-config-urls-test' };
const load = (env: Record<string, string>) => loadConfig({ ...NO_SAVED_APP, ...env });

const URL_VARIABLES = ['OPENAI_BASE_URL', 'ANTHROPIC_BASE_URL', 'GITHUB_API_URL', 'TELECODER_GIT_URL', 'TELECODER_PUBLIC_URL', 'WEBHOOK_PROXY_URL', 'TELEGRAM_API_ROOT'];

describe('URL-valued settings', () => {
  it('refuse a note written after the value, naming the variable and saying what is wrong', () => {
    // The line .env.example used to have, uncommented.
    const noted = () => load({ OPENAI_BASE_URL: 'https://api.openai.com/v1   (Ollama: http://localhost:11434/v1)' });
    expect(noted).toThrow(/OPENAI_BASE_URL has spaces in it \(got "https:\/\/api\.openai\.com\/v1 {3}\(Ollama: http:\/\/localhost:11434\/v1\)"\)/);
    expect(noted).toThrow(/put any note on a # line of its own/);
  });

  it('refuse, for every URL variable, what is not an http(s) URL', () => {
    for (const name of URL_VARIABLES) {
      expect(() => load({ [name]: 'localhost:11434/v1' }), name).toThrow(new RegExp(`${name} (must start with http:// or https://|must be the http\\(s\\) address)`));
      expect(() => load({ [name]: 'not a url' }), name).toThrow(new RegExp(`${name} `));
      expect(() => load({ [name]: 'https://example.com/a b' }), name).toThrow(new RegExp(`${name} `));
      expect(() => load({ [name]: 'ftp://example.com' }), name).toThrow(new RegExp(`${name} `));
    }
  });

  it('list every bad URL at once', () => {
    const both = () => load({ ANTHROPIC_BASE_URL: 'api.anthropic.com', WEBHOOK_PROXY_URL: 'smee.io/x' });
    expect(both).toThrow(/^- ANTHROPIC_BASE_URL must start with http:\/\/ or https:\/\/ \(got "api\.anthropic\.com"\)/m);
    expect(both).toThrow(/^- WEBHOOK_PROXY_URL must start with http:\/\/ or https:\/\/ \(got "smee\.io\/x"\)/m);
  });

  it('take good values as written, and file:// for TELECODER_GIT_URL only', () => {
    const config = load({
      OPENAI_BASE_URL: ' http://localhost:11434/v1 ',
      ANTHROPIC_BASE_URL: 'http://127.0.0.1:9',
      GITHUB_API_URL: 'https://ghe.example.com/api/v3/',
      TELECODER_GIT_URL: 'file:///srv/remotes',
      WEBHOOK_PROXY_URL: 'https://smee.io/abc',
    });
    expect(config.llm.openaiBaseUrl).toBe('http://localhost:11434/v1');
    expect(config.llm.anthropicBaseUrl).toBe('http://127.0.0.1:9');
    expect(config.githubApiUrl).toBe('https://ghe.example.com/api/v3');
    expect(config.githubGitUrl).toBe('file:///srv/remotes');
    expect(config.githubApp.webhookProxyUrl).toBe('https://smee.io/abc');
    expect(() => load({ GITHUB_API_URL: 'file:///srv/api' })).toThrow(/GITHUB_API_URL must start with http:\/\/ or https:\/\//);
  });

  it('take GHE_HOST as a host name alone', () => {
    expect(load({ GHE_HOST: 'ghe.example.com' }).githubApiUrl).toBe('https://ghe.example.com/api/v3');
    expect(load({ GHE_HOST: 'ghe.example.com:8443', GHE_PROTOCOL: 'http' }).githubGitUrl).toBe('http://ghe.example.com:8443');
    expect(() => load({ GHE_HOST: 'https://ghe.example.com' })).toThrow(/GHE_HOST must be a host name alone, like github\.example\.com, without https:\/\//);
  });
});
