import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git, makeBareRemote } from '../helpers/git-fixtures.js';
import { startGitHttpServer, type GitHttpServer } from '../helpers/git-http-server.js';

const execFileAsync = promisify(execFile);

/**
 * git over HTTP, with no user or system configuration and a fixed identity. Asynchronous: the
 * server answers on this process's event loop, so a synchronous git would wait for itself.
 */
async function gitHttp(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync('git', args, {
    cwd,
    encoding: 'utf8',
    timeout: 30_000,
    env: {
      ...process.env,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_TERMINAL_PROMPT: '0',
      GIT_AUTHOR_NAME: 'Test',
      GIT_AUTHOR_EMAIL: 'test@example.com',
      GIT_COMMITTER_NAME: 'Test',
      GIT_COMMITTER_EMAIL: 'test@example.com',
    },
  });
  return stdout.trim();
}

/** One pkt-line. */
function pkt(line: string): string {
  return `${(line.length + 4).toString(16).padStart(4, '0')}${line}`;
}

describe('git smart HTTP server (git http-backend behind node:http)', () => {
  let tmp: string;
  let server: GitHttpServer;
  let bare: string;

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'telecoder-git-http-'));
    bare = makeBareRemote(join(tmp, 'root', 'acme', 'demo.git'), {
      'README.md': '# demo\n',
      'src/data.txt': 'x'.repeat(50_000),
    });
    server = await startGitHttpServer({ root: join(tmp, 'root') });
  });
  afterAll(async () => {
    await server?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('clone counts info/refs and upload-pack; a fetch with nothing new downloads almost nothing; push works', async () => {
    server.reset();
    const clone = join(tmp, 'clone');
    await gitHttp(tmp, 'clone', '-q', `${server.url}/acme/demo.git`, clone);
    expect(await gitHttp(clone, 'log', '-1', '--format=%s')).toBe('initial');
    const cloned = server.stats();
    expect(cloned.infoRefsRequests).toBeGreaterThanOrEqual(1);
    expect(cloned.uploadPackRequests).toBeGreaterThanOrEqual(1);
    // The pack holds the 50 kB file (compressed, but well above a negotiation's size).
    expect(cloned.uploadPackBytes).toBeGreaterThan(100);
    expect(cloned.receivePackRequests).toBe(0);
    expect(cloned.failedRequests).toBe(0);
    expect(server.log().every((entry) => entry.status === 200)).toBe(true);

    server.reset();
    await gitHttp(clone, 'fetch', '-q', 'origin');
    const fetched = server.stats();
    expect(fetched.infoRefsRequests).toBe(1);
    expect(fetched.uploadPackBytes).toBeLessThan(1_000);
    expect(fetched.uploadPackBytes).toBeLessThan(cloned.uploadPackBytes);

    server.reset();
    writeFileSync(join(clone, 'new.txt'), 'new\n');
    await gitHttp(clone, 'add', 'new.txt');
    await gitHttp(clone, 'commit', '-q', '-m', 'pushed over http');
    await gitHttp(clone, 'push', '-q', 'origin', 'HEAD:refs/heads/feature');
    expect(server.stats().receivePackRequests).toBe(1);
    expect(git(tmp, '--git-dir', bare, 'log', '-1', '--format=%s', 'feature')).toBe('pushed over http');
  });

  it('a gzip-encoded upload-pack request is inflated (git compresses large negotiations)', async () => {
    const head = git(tmp, '--git-dir', bare, 'rev-parse', 'main');
    const body = gzipSync(Buffer.from(`${pkt(`want ${head}\n`)}0000${pkt('done\n')}`));
    const response = await fetch(`${server.url}/acme/demo.git/git-upload-pack`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-git-upload-pack-request', 'content-encoding': 'gzip' },
      body,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/x-git-upload-pack-result');
    const answer = Buffer.from(await response.arrayBuffer());
    expect(answer.subarray(0, 8).toString()).toBe('0008NAK\n');
    expect(answer.includes('PACK')).toBe(true);
  });

  it('unknown repositories are 404, and pushes are refused when receive-pack is off', async () => {
    expect((await fetch(`${server.url}/acme/missing.git/info/refs?service=git-upload-pack`)).status).toBe(404);
    expect((await fetch(`${server.url}/acme/../../etc/info/refs`)).status).not.toBe(200);

    const readOnly = await startGitHttpServer({ root: join(tmp, 'root'), receivePack: false });
    try {
      const clone = join(tmp, 'clone-ro');
      await gitHttp(tmp, 'clone', '-q', `${readOnly.url}/acme/demo.git`, clone);
      await gitHttp(clone, 'commit', '-q', '--allow-empty', '-m', 'refused');
      await expect(gitHttp(clone, 'push', '-q', 'origin', 'HEAD:refs/heads/refused')).rejects.toThrow();
      expect(readOnly.stats().receivePackRequests).toBe(0);
      expect(readOnly.stats().failedRequests).toBeGreaterThanOrEqual(1);
    } finally {
      await readOnly.close();
    }
  });
});
