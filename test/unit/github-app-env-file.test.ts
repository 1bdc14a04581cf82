import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readGitHubAppEnv, withSavedGitHubApp, writeGitHubAppEnv } from '../../src/config/github-app-env-file.js';

const PEM = '-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\nline2\n-----END RSA PRIVATE KEY-----\n';

describe('the GitHub App credentials file in the data dir', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'telecoder-app-env-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('is created 0600 in a 0700 directory and reads back exactly, multi-line key included', () => {
    const dataDir = join(root, 'data', 'nested');
    const file = writeGitHubAppEnv(dataDir, { APP_ID: '42', PRIVATE_KEY: PEM, WEBHOOK_SECRET: 'abc123', GITHUB_CLIENT_ID: 'Iv1.x' });
    expect(file).toBe(join(dataDir, 'github-app.env'));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    expect(readdirSync(dataDir)).toEqual(['github-app.env']); // no temporary file left behind
    // The client id stays in the file for the person; TeleCoder reads only what it uses.
    expect(readGitHubAppEnv(dataDir)).toEqual({ APP_ID: '42', PRIVATE_KEY: PEM.trim(), WEBHOOK_SECRET: 'abc123' });
    expect(readFileSync(file, 'utf8')).toMatch(/^GITHUB_CLIENT_ID="Iv1.x"$/m);
  });

  it('tightens an existing data dir and replaces a planted symlink instead of writing through it', () => {
    const dataDir = join(root, 'data');
    mkdirSync(dataDir);
    chmodSync(dataDir, 0o755);
    writeGitHubAppEnv(dataDir, { APP_ID: '1', PRIVATE_KEY: PEM, WEBHOOK_SECRET: 's' });
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    const elsewhere = join(root, 'elsewhere');
    writeFileSync(elsewhere, 'untouched');
    rmSync(join(dataDir, 'github-app.env'));
    symlinkSync(elsewhere, join(dataDir, 'github-app.env'));
    writeGitHubAppEnv(dataDir, { APP_ID: '2', PRIVATE_KEY: PEM, WEBHOOK_SECRET: 's' });
    expect(readFileSync(elsewhere, 'utf8')).toBe('untouched');
    expect(readGitHubAppEnv(dataDir).APP_ID).toBe('2');
    expect(statSync(join(dataDir, 'github-app.env')).mode & 0o777).toBe(0o600);
  });

  it('refuses values that would not survive the round trip or would add lines of their own', () => {
    for (const secret of ['a"b', 'a\\nb', 'a\nAPP_ID=666', 'tab\there']) {
      expect(() => writeGitHubAppEnv(root, { APP_ID: '1', PRIVATE_KEY: PEM, WEBHOOK_SECRET: secret }), secret).toThrow(/WEBHOOK_SECRET cannot be stored/);
    }
    expect(readdirSync(root)).toEqual([]);
  });

  it('fills in the environment only when it names no App, and never replaces what it sets', () => {
    writeGitHubAppEnv(root, { APP_ID: '42', PRIVATE_KEY: PEM, WEBHOOK_SECRET: 'abc123' });
    expect(withSavedGitHubApp({ LOG_LEVEL: 'debug', APP_ID: '' }, root)).toEqual({
      LOG_LEVEL: 'debug',
      APP_ID: '42',
      PRIVATE_KEY: PEM.trim(),
      WEBHOOK_SECRET: 'abc123',
    });
    for (const key of ['APP_ID', 'PRIVATE_KEY', 'PRIVATE_KEY_PATH', 'WEBHOOK_SECRET']) {
      const env = { [key]: 'from-the-environment' };
      expect(withSavedGitHubApp(env, root), key).toBe(env);
    }
    expect(withSavedGitHubApp({}, join(root, 'no-such-dir'))).toEqual({});
  });
});
