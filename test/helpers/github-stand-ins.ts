import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { startFakeGitHubApi, type FakeGitHubApi } from './fake-github-api.js';
import { makeBareRemote } from './git-fixtures.js';
import { startGitHttpServer } from './git-http-server.js';
import { startHoldingProxy, type HoldingProxy } from './holding-proxy.js';

export interface GitHubStandIns {
  /** The bare repository behind `acme/widgets`. */
  bare: string;
  /** Environment that points TeleCoder (in any process) at the stand-ins. */
  env: { TELECODER_GIT_URL: string; GITHUB_API_URL: string };
  /** Git traffic passes through it; it holds the request `holdGit` picks. */
  proxy: HoldingProxy;
  github: FakeGitHubApi;
  close(): Promise<void>;
}

/** Picks the POST of a git smart-HTTP service: `git-upload-pack` (fetch) or `git-receive-pack` (push). */
export function gitPost(service: 'git-upload-pack' | 'git-receive-pack'): (req: IncomingMessage) => boolean {
  return (req) => req.method === 'POST' && (req.url ?? '').endsWith(`/${service}`);
}

/**
 * GitHub for a TeleCoder in a child process, where nock cannot reach: `acme/widgets` served over
 * git's smart HTTP from a bare repository under `dir`, and the REST routes a task uses.
 */
export async function startGitHubStandIns(options: { dir: string; holdGit?: (req: IncomingMessage) => boolean }): Promise<GitHubStandIns> {
  const remotes = join(options.dir, 'remotes');
  const bare = makeBareRemote(join(remotes, 'acme', 'widgets.git'), { 'README.md': '# Widgets\n' });
  const git = await startGitHttpServer({ root: remotes });
  const proxy = await startHoldingProxy({ target: git.url, hold: options.holdGit ?? (() => false) });
  const github = await startFakeGitHubApi();
  return {
    bare,
    env: { TELECODER_GIT_URL: proxy.url, GITHUB_API_URL: github.url },
    proxy,
    github,
    close: async () => {
      await github.close();
      await proxy.close();
      await git.close();
    },
  };
}
