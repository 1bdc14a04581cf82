import { generateKeyPairSync } from 'node:crypto';
import nock from 'nock';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { InstallationTokenSource } from '../../src/gitprovider/installation-token-source.js';
import { setupGitHubMock } from '../helpers/github-mock.js';

const { privateKey } = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  publicKeyEncoding: { type: 'spki', format: 'pem' },
});

describe('InstallationTokenSource (GitHub App installation tokens, nock)', () => {
  const github = setupGitHubMock();
  afterEach(() => vi.useRealTimers());

  function tokenReply(token: string) {
    return { token, expires_at: new Date(Date.now() + 3_600_000).toISOString(), permissions: { contents: 'write' }, repository_selection: 'all' };
  }

  it('finds the installation with the app JWT, mints a token, and reuses it within the hour', async () => {
    let jwtHeader = '';
    github.scope
      .get('/repos/acme/widgets/installation')
      .reply(function () {
        jwtHeader = String(this.req.headers.authorization);
        return [200, { id: 42 }];
      })
      .post('/app/installations/42/access_tokens')
      .reply(201, tokenReply('ghs_first'));
    const source = new InstallationTokenSource({ appId: '123', privateKey });
    expect(await source.getToken('acme/widgets')).toBe('ghs_first');
    expect(await source.getToken('acme/widgets')).toBe('ghs_first');
    // A JWT: three base64url parts, signed by the app's key.
    expect(jwtHeader).toMatch(/^bearer [\w-]+\.[\w-]+\.[\w-]+$/);
  });

  it('mints a fresh token once the first is an hour old (a session that outlives its token)', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    github.scope
      .get('/repos/acme/widgets/installation')
      .reply(200, { id: 42 })
      .post('/app/installations/42/access_tokens')
      .reply(201, tokenReply('ghs_first'))
      .post('/app/installations/42/access_tokens')
      .reply(201, tokenReply('ghs_second'));
    const source = new InstallationTokenSource({ appId: '123', privateKey });
    expect(await source.getToken('acme/widgets')).toBe('ghs_first');
    vi.setSystemTime(Date.now() + 61 * 60_000);
    expect(await source.getToken('acme/widgets')).toBe('ghs_second');
  });

  it('says the app is not installed when GitHub has no installation for the repository', async () => {
    github.scope.get('/repos/acme/private/installation').reply(404, { message: 'Not Found' });
    const source = new InstallationTokenSource({ appId: '123', privateKey });
    await expect(source.getToken('acme/private')).rejects.toThrow(/not installed on acme\/private/);
  });

  it('talks to GitHub Enterprise Server at its API URL', async () => {
    const ghes = nock('https://ghe.example.com/api/v3');
    ghes.get('/repos/acme/widgets/installation').reply(200, { id: 7 }).post('/app/installations/7/access_tokens').reply(201, tokenReply('ghs_ghe'));
    const source = new InstallationTokenSource({ appId: '123', privateKey, apiUrl: 'https://ghe.example.com/api/v3' });
    expect(await source.getToken('acme/widgets')).toBe('ghs_ghe');
  });
});
