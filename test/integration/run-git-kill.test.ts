/**
 * A git command that talks to a server which never answers must still end when it is aborted or
 * times out. git leaves the network to a helper process (git-remote-http) that holds git's
 * output pipes; killing git alone left the helper waiting, the command never settled, and a
 * stopped session or a SIGTERM drain waited forever.
 */
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GitError, runGit } from '../../src/git/run-git.js';

let server: Server;
let url: string;

beforeEach(async () => {
  // Takes every request and never answers it.
  server = createServer(() => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/acme/widgets.git`;
});

afterEach(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** Processes whose command line names the hung server's URL (git and its helpers). */
function processesFor(target: string): string[] {
  const listing = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return listing.split('\n').filter((line) => line.includes(target) && !line.includes('ps -eo'));
}

async function settlesWithin(ms: number, work: Promise<unknown>): Promise<{ error: unknown; elapsedMs: number }> {
  const started = Date.now();
  const outcome = await Promise.race([
    work.then(
      () => ({ error: undefined }),
      (error: unknown) => ({ error }),
    ),
    new Promise<{ error: unknown }>((resolve) => setTimeout(() => resolve({ error: new Error(`did not settle within ${ms} ms`) }), ms)),
  ]);
  return { ...outcome, elapsedMs: Date.now() - started };
}

describe('runGit against a server that never answers', () => {
  it('an abort ends the command at once and leaves no git process behind', async () => {
    const controller = new AbortController();
    const running = runGit(['ls-remote', url], { signal: controller.signal });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(processesFor(url).length).toBeGreaterThan(0);
    controller.abort();
    const { error, elapsedMs } = await settlesWithin(3_000, running);
    expect(error).toBeInstanceOf(GitError);
    expect((error as GitError).message).toMatch(/aborted/);
    expect(elapsedMs).toBeLessThan(3_000);
    expect(processesFor(url)).toEqual([]);
  });

  it('the timeout ends it too', async () => {
    const { error } = await settlesWithin(5_000, runGit(['ls-remote', url], { timeoutMs: 500 }));
    expect(error).toBeInstanceOf(GitError);
    expect((error as GitError).message).toMatch(/timed out/);
    expect(processesFor(url)).toEqual([]);
  });
});
