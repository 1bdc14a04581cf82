import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseAddr } from '../../src/config/config.js';
import { writeGitHubAppEnv } from '../../src/config/github-app-env-file.js';

describe('loadConfig', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({});
    expect(config.addr).toEqual({ host: '127.0.0.1', port: 7080 });
    expect(config.sandbox).toMatchObject({ image: 'telecoder-sandbox', egress: 'registries', egressAllow: [], pids: 512, cpus: 2 });
    expect(config.sandbox.memoryBytes).toBe(4 * 1024 ** 3);
    expect(config.sandbox.wallClockMs).toBe(60 * 60 * 1000);
    expect(config.agent).toEqual({ name: 'builtin', maxTurns: 60, commandTimeoutMs: 10 * 60 * 1000, externalTimeoutMs: 30 * 60 * 1000 });
    expect(config.maxConcurrent).toBe(2);
    expect(config.maxRevisions).toBe(1);
    expect(config.maxSubtasks).toBe(5);
    expect(config.chatMaxMessages).toBe(50);
    expect(config.dataDir).toMatch(/\.telecoder$/);
  });

  it('reads durations, sizes and numbers in the forms the README gives', () => {
    const config = loadConfig({
      TELECODER_SANDBOX_TIMEOUT: '90s',
      TELECODER_COMMAND_TIMEOUT: '45',
      TELECODER_SANDBOX_MEMORY: '512mb',
      TELECODER_SANDBOX_CPUS: '1.5',
      TELECODER_MAX_CONCURRENT: '4',
      TELECODER_CHAT_IDLE_TIMEOUT: '1h',
    });
    expect(config.sandbox.wallClockMs).toBe(90_000);
    expect(config.agent.commandTimeoutMs).toBe(45_000);
    expect(config.sandbox.memoryBytes).toBe(512 * 1024 ** 2);
    expect(config.sandbox.cpus).toBe(1.5);
    expect(config.maxConcurrent).toBe(4);
    expect(config.chatIdleTimeoutMs).toBe(3_600_000);
  });

  it('lists every invalid setting with how to write it', () => {
    const load = () =>
      loadConfig({ TELECODER_SANDBOX_TIMEOUT: 'soon', TELECODER_SANDBOX_MEMORY: 'lots', TELECODER_MAX_CONCURRENT: '0' });
    expect(load).toThrow(/TELECODER_SANDBOX_TIMEOUT must be a duration like 90s, 10m or 1h \(got "soon"\)/);
    expect(load).toThrow(/TELECODER_SANDBOX_MEMORY must be a size like 512mb or 2gb \(got "lots"\)/);
    expect(load).toThrow(/TELECODER_MAX_CONCURRENT must be a whole number ≥ 1 \(got "0"\)/);
    expect(() => loadConfig({ TELECODER_LLM_PROVIDER: 'gemini' })).toThrow(/"anthropic" or "openai"/);
    expect(() => loadConfig({ TELECODER_CODING_AGENT: 'aider' })).toThrow(/TELECODER_CODING_AGENT must be one of "builtin", "claude-code"/);
  });

  it('refuses to listen beyond loopback without an API token', () => {
    expect(() => loadConfig({ TELECODER_ADDR: '0.0.0.0:7080' })).toThrow(/TELECODER_API_TOKEN must be set/);
    expect(loadConfig({ TELECODER_ADDR: '0.0.0.0:7080', TELECODER_API_TOKEN: 'secret' }).addr.host).toBe('0.0.0.0');
    expect(loadConfig({ TELECODER_ADDR: '127.0.0.2:7080' }).addr.host).toBe('127.0.0.2');
  });

  it('refuses a GitHub App without a webhook secret instead of accepting deliveries signed with a default one', () => {
    const app = { APP_ID: '1', PRIVATE_KEY: '-----BEGIN RSA PRIVATE KEY-----\\nx\\n-----END RSA PRIVATE KEY-----' };
    expect(() => loadConfig(app)).toThrow(/WEBHOOK_SECRET is not\. Set WEBHOOK_SECRET/);
    expect(loadConfig({ ...app, WEBHOOK_SECRET: 's3cret' }).githubApp.webhookSecret).toBe('s3cret');
    // Without an App (setup mode) no secret is needed.
    expect(loadConfig({}).githubApp.webhookSecret).toBeUndefined();
  });

  it('reads the sandbox walls: egress policy and allow-list, disk, change limits, workflow changes', () => {
    const defaults = loadConfig({});
    expect(defaults.sandbox).toMatchObject({ egress: 'registries', egressAllow: [], diskBytes: 10 * 1024 ** 3 });
    expect(defaults.change).toEqual({ maxBytes: 100 * 1024 ** 2, maxFiles: 20_000 });
    expect(defaults.allowWorkflowChanges).toBe(false);
    expect(defaults.githubWriteIntervalMs).toBe(1000);
    const set = loadConfig({
      TELECODER_EGRESS: 'none',
      TELECODER_EGRESS_ALLOW: 'git.example.com, *.Internal.example',
      TELECODER_SANDBOX_DISK: '2gb',
      TELECODER_MAX_CHANGE_SIZE: '1mb',
      TELECODER_MAX_CHANGE_FILES: '10',
      TELECODER_ALLOW_WORKFLOW_CHANGES: 'true',
    });
    expect(set.sandbox).toMatchObject({ egress: 'none', egressAllow: ['git.example.com', '*.internal.example'], diskBytes: 2 * 1024 ** 3 });
    expect(set.change).toEqual({ maxBytes: 1024 ** 2, maxFiles: 10 });
    expect(set.allowWorkflowChanges).toBe(true);
    expect(() => loadConfig({ TELECODER_EGRESS: 'some' })).toThrow(/TELECODER_EGRESS must be "registries"/);
    expect(() => loadConfig({ TELECODER_EGRESS_ALLOW: 'http://x.example/path' })).toThrow(/TELECODER_EGRESS_ALLOW must list host names/);
    // The old network setting would bypass the policy: start-up says what replaces it.
    expect(() => loadConfig({ TELECODER_DOCKER_NETWORK: 'bridge' })).toThrow(/TELECODER_DOCKER_NETWORK is no longer supported.*TELECODER_EGRESS/s);
    expect(loadConfig({ TELECODER_DOCKER_NETWORK: '' }).sandbox.egress).toBe('registries');
  });

  it('reads TELECODER_PUBLIC_URL as an http(s) address, and says how to write one', () => {
    expect(loadConfig({}).publicUrl).toBeUndefined();
    expect(loadConfig({ TELECODER_PUBLIC_URL: 'https://TeleCoder.example.com/' }).publicUrl).toBe('https://telecoder.example.com');
    expect(loadConfig({ TELECODER_PUBLIC_URL: 'http://10.0.0.5:8080' }).publicUrl).toBe('http://10.0.0.5:8080');
    for (const bad of ['telecoder.example.com', 'ftp://telecoder.example.com', 'https://user:pw@telecoder.example.com', 'https://x.example/?a=1']) {
      expect(() => loadConfig({ TELECODER_PUBLIC_URL: bad }), bad).toThrow(/TELECODER_PUBLIC_URL must be the http\(s\) address people use/);
    }
  });

  it('reads a GitHub App saved by the setup pages from the data dir, never over the environment', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'telecoder-config-app-'));
    try {
      expect(loadConfig({ TELECODER_DATA_DIR: dataDir }).githubApp.appId).toBeUndefined();
      const pem = '-----BEGIN RSA PRIVATE KEY-----\nsaved\n-----END RSA PRIVATE KEY-----';
      writeGitHubAppEnv(dataDir, { APP_ID: '77', PRIVATE_KEY: pem, WEBHOOK_SECRET: 'saved-secret', GITHUB_CLIENT_SECRET: 'cs' });
      const saved = loadConfig({ TELECODER_DATA_DIR: dataDir, APP_ID: '', WEBHOOK_SECRET: ' ' });
      expect(saved.githubApp).toMatchObject({ appId: '77', privateKey: pem, webhookSecret: 'saved-secret' });
      // An environment that names an App of its own is used as it is: keys of two Apps never mix.
      const own = { APP_ID: '5', PRIVATE_KEY: 'own-key', WEBHOOK_SECRET: 'own-secret' };
      expect(loadConfig({ TELECODER_DATA_DIR: dataDir, ...own }).githubApp).toMatchObject({ appId: '5', privateKey: 'own-key', webhookSecret: 'own-secret' });
      expect(() => loadConfig({ TELECODER_DATA_DIR: dataDir, PRIVATE_KEY_PATH: join(dataDir, 'missing.pem') })).toThrow(/PRIVATE_KEY_PATH/);
      expect(loadConfig({ TELECODER_DATA_DIR: dataDir, APP_ID: '5' }).githubApp).toMatchObject({ appId: '5', privateKey: undefined, webhookSecret: undefined });
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('allows local repository paths by default only when listening on loopback', () => {
    expect(loadConfig({}).allowLocalRepos).toBe(true);
    expect(loadConfig({ TELECODER_ADDR: '0.0.0.0:7080', TELECODER_API_TOKEN: 't' }).allowLocalRepos).toBe(false);
    expect(loadConfig({ TELECODER_ADDR: '0.0.0.0:7080', TELECODER_API_TOKEN: 't', TELECODER_ALLOW_LOCAL_REPOS: 'true' }).allowLocalRepos).toBe(true);
    expect(loadConfig({ TELECODER_ALLOW_LOCAL_REPOS: 'false' }).allowLocalRepos).toBe(false);
  });

  it('parses listen addresses, treating a bare port as loopback', () => {
    expect(parseAddr(':8080')).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(parseAddr('9000')).toEqual({ host: '127.0.0.1', port: 9000 });
    expect(parseAddr('[::1]:7080')).toEqual({ host: '::1', port: 7080 });
    expect(() => parseAddr('localhost:99999')).toThrow(/TELECODER_ADDR/);
    expect(() => parseAddr('nonsense')).toThrow(/TELECODER_ADDR/);
  });
});
