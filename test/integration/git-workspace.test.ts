import { execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { extract } from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SANDBOX_CHECKOUT } from '../../src/engine/prepare-workspace.js';
import { GitWorkspace } from '../../src/git/git-workspace.js';
import { GIT_WALL_ARGS, GIT_WALL_CONFIG } from '../../src/git/git-walls.js';
import { GitError, runGit } from '../../src/git/run-git.js';
import { extractPatch } from '../../src/git/sandbox-patch.js';
import { commitCheckpoint, diffSince, onBaseTree } from '../../src/pipeline/checkpoint.js';
import { gitCredentialEnv } from '../../src/gitprovider/github-provider.js';
import type { RepoAccess } from '../../src/gitprovider/provider.js';
import type { ExecOptions, ExecResult, ExecStream, Sandbox } from '../../src/sandbox/runtime.js';
import { git } from '../helpers/git-fixtures.js';

const TOKEN = 'ghs_TESTtokenNEVERwritten0123456789abcdef';

/**
 * TEST DOUBLE for a sandbox: runs argv with execFile (no shell) in a directory on the host. It
 * stands in for the Docker runtime only so extractPatch's protocol (argv, cwd, exit codes, output
 * limits) can be exercised here; the real runtime lives in src/sandbox/docker/ (and
 * test/e2e/change-limits.test.ts runs extractPatch against it).
 */
function hostSandbox(workspace: string): Sandbox {
  return {
    execStream(argv: string[], options: ExecOptions): Promise<ExecStream> {
      const [file, ...args] = argv;
      const child = spawn(file as string, args, {
        cwd: options.cwd ?? workspace,
        env: { PATH: process.env.PATH ?? '', GIT_CONFIG_GLOBAL: '/dev/null', ...options.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const stderr: Buffer[] = [];
      child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, options.timeoutMs);
      // A reader that stops reading ends the command, as the Docker runtime does.
      child.stdout.on('close', () => {
        if (child.exitCode === null) child.kill('SIGKILL');
      });
      const result = new Promise<Omit<ExecResult, 'stdout' | 'truncated'>>((resolve) => {
        child.on('close', (code) => {
          clearTimeout(timer);
          resolve({ exitCode: code ?? 137, stderr: Buffer.concat(stderr).toString('utf8'), timedOut });
        });
      });
      return Promise.resolve({ stdout: child.stdout, result });
    },
    id: 'host-double',
    sessionId: 'test',
    workspace,
    exec(argv: string[], options: ExecOptions): Promise<ExecResult> {
      const [file, ...args] = argv;
      return new Promise((resolve) => {
        execFile(
          file as string,
          args,
          {
            cwd: options.cwd ?? workspace,
            env: { PATH: process.env.PATH ?? '', GIT_CONFIG_GLOBAL: '/dev/null', ...options.env },
            timeout: options.timeoutMs,
            maxBuffer: 512 * 1024 * 1024,
            encoding: 'buffer',
          },
          (error, stdout, stderr) => {
            const limit = options.maxOutputBytes ?? Infinity;
            const truncated = stdout.length > limit || stderr.length > limit;
            const code = error && typeof (error as { code?: unknown }).code === 'number' ? ((error as { code: number }).code) : error ? 1 : 0;
            resolve({
              exitCode: code,
              stdout: stdout.subarray(0, Math.min(stdout.length, limit)).toString('utf8'),
              stderr: stderr.subarray(0, Math.min(stderr.length, limit)).toString('utf8'),
              timedOut: Boolean(error && (error as { killed?: boolean }).killed),
              truncated,
            });
          },
        );
      });
    },
    workspacePrepared: false,
    setDefaultEnv: () => undefined,
    putArchive: () => Promise.reject(new Error('not used by the host double')),
    writeFile: () => Promise.reject(new Error('not used by the host double')),
    exited: new Promise(() => undefined),
    destroy: () => Promise.resolve(),
  };
}

/** The whole patch extractPatch streams, as text (the tests here make small ones). */
async function patchText(patch: Readable | Promise<Readable>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of await patch) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function allFilesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...allFilesUnder(path));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

/** Every form the token could take if it were written anywhere. */
function tokenForms(token: string): string[] {
  return [token, Buffer.from(`x-access-token:${token}`).toString('base64')];
}

async function readTar(stream: Readable): Promise<Array<{ name: string; uid: number; gid: number; type: string; mode: number; body: Buffer }>> {
  const entries: Array<{ name: string; uid: number; gid: number; type: string; mode: number; body: Buffer }> = [];
  const parser = extract();
  const done = new Promise<void>((resolve, reject) => {
    parser.on('entry', (header, body, next) => {
      const chunks: Buffer[] = [];
      body.on('data', (chunk: unknown) => chunks.push(chunk as Buffer));
      body.on('end', () => {
        entries.push({
          name: header.name,
          uid: header.uid ?? -1,
          gid: header.gid ?? -1,
          type: header.type ?? 'file',
          mode: header.mode ?? 0,
          body: Buffer.concat(chunks),
        });
        next();
      });
    });
    parser.on('finish', () => resolve());
    parser.on('error', reject);
  });
  stream.pipe(parser as unknown as NodeJS.WritableStream);
  await done;
  return entries;
}

/**
 * Smart HTTP on 127.0.0.1 through `git http-backend` (CGI), answering 401 unless the request
 * carries exactly the expected Authorization header. Proves the credential really reaches git
 * through the environment.
 */
async function startGitHttpServer(projectRoot: string, expectedAuthorization: string) {
  const seen: Array<string | undefined> = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    seen.push(req.headers.authorization);
    if (req.headers.authorization !== expectedAuthorization) {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="test"' }).end('unauthorized');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const cgi = spawn('git', ['http-backend'], {
      stdio: ['pipe', 'pipe', 'ignore'],
      env: {
        PATH: process.env.PATH ?? '',
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_CONFIG_GLOBAL: '/dev/null',
        GIT_PROJECT_ROOT: projectRoot,
        GIT_HTTP_EXPORT_ALL: '1',
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.replace(/^\?/, ''),
        REQUEST_METHOD: req.method ?? 'GET',
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        ...(req.headers['content-length'] ? { CONTENT_LENGTH: req.headers['content-length'] } : {}),
        ...(req.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: req.headers['content-encoding'] } : {}),
        ...(req.headers['git-protocol'] ? { GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}),
        REMOTE_USER: 'x-access-token',
        REMOTE_ADDR: '127.0.0.1',
      },
    });
    req.pipe(cgi.stdin);
    const chunks: Buffer[] = [];
    cgi.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    cgi.on('close', () => {
      const output = Buffer.concat(chunks);
      const split = output.indexOf('\r\n\r\n');
      const headerEnd = split >= 0 ? split : output.indexOf('\n\n');
      const gap = split >= 0 ? 4 : 2;
      const headers: Record<string, string> = {};
      let status = 200;
      for (const line of output.subarray(0, headerEnd).toString('latin1').split(/\r?\n/)) {
        const colon = line.indexOf(':');
        if (colon < 0) continue;
        const name = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10);
        else headers[name] = value;
      }
      res.writeHead(status, headers).end(output.subarray(headerEnd + gap));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('GitWorkspace with real git and a local bare remote', () => {
  let tmp: string;
  let remote: string;
  let access: RepoAccess;
  let trunkSha: string;
  let servers: Array<{ close(): Promise<void> }>;

  beforeEach(() => {
    servers = [];
    tmp = mkdtempSync(join(tmpdir(), 'telecoder-git-'));
    const seed = join(tmp, 'seed');
    mkdirSync(join(seed, 'src'), { recursive: true });
    git(tmp, 'init', '-q', '-b', 'trunk', seed);
    writeFileSync(join(seed, 'README.md'), '# Widgets\n');
    git(seed, 'add', '-A');
    git(seed, 'commit', '-q', '-m', 'first');
    writeFileSync(join(seed, 'src', 'app.js'), 'console.log("hi");\n');
    writeFileSync(join(seed, 'old-name.txt'), 'this file will be renamed\nline two\nline three\n');
    writeFileSync(join(seed, 'delete-me.txt'), 'bye\n');
    writeFileSync(join(seed, 'script.sh'), '#!/bin/sh\necho run\n');
    writeFileSync(join(seed, 'logo.bin'), Buffer.from([0, 1, 2, 3, 255, 254, 0, 0, 7, 8, 9]));
    git(seed, 'add', '-A');
    git(seed, 'commit', '-q', '-m', 'second');
    remote = join(tmp, 'remote.git');
    git(tmp, 'clone', '-q', '--bare', seed, remote);
    trunkSha = git(remote, 'rev-parse', 'refs/heads/trunk');
    access = { repo: 'acme/widgets', cloneUrl: pathToFileURL(remote).href, gitEnv: {} };
  });

  afterEach(async () => {
    await Promise.all(servers.map((server) => server.close()));
    rmSync(tmp, { recursive: true, force: true });
  });

  /** What a coding agent would do in its copy: a plain clone, edited freely. */
  function agentCopy(name = 'agent'): string {
    const dir = join(tmp, name);
    git(tmp, 'clone', '-q', remote, dir);
    return dir;
  }

  it('clones depth 1 on the remote default branch (not main) into a private directory and creates the work branch', async () => {
    const ws = await GitWorkspace.clone({ access, dir: join(tmp, 'ws'), branch: 'telecoder/abc' });
    expect(ws.baseBranch).toBe('trunk');
    expect(ws.baseSha).toBe(trunkSha);
    expect(git(ws.dir, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe('telecoder/abc');
    expect(git(ws.dir, 'rev-list', '--count', 'HEAD')).toBe('1');
    expect(existsSync(join(ws.dir, '.git', 'shallow'))).toBe(true);
    expect(statSync(ws.dir).mode & 0o777).toBe(0o700);
    expect(readFileSync(join(ws.dir, '.git', 'config'), 'utf8')).not.toMatch(/user\.|name =|email =/);
    await ws.remove();
    expect(existsSync(ws.dir)).toBe(false);
  });

  it('clones a named base branch', async () => {
    git(remote, 'branch', 'release', 'trunk~1');
    const ws = await GitWorkspace.clone({ access, dir: join(tmp, 'ws'), branch: 'telecoder/rel', baseBranch: 'release' });
    expect(ws.baseBranch).toBe('release');
    expect(ws.baseSha).toBe(git(remote, 'rev-parse', 'release'));
    expect(existsSync(join(ws.dir, 'logo.bin'))).toBe(false);
  });

  it('brings an agent change back as a binary patch (binary, delete, rename, exec bit) then commits and pushes it', async () => {
    const ws = await GitWorkspace.clone({ access, dir: join(tmp, 'ws'), branch: 'telecoder/abc' });
    const agent = agentCopy();
    const newBinary = Buffer.concat([Buffer.from([0, 0, 0]), randomBytes(4096)]);
    writeFileSync(join(agent, 'README.md'), '# Widgets\n\nNow with more widgets.\n');
    writeFileSync(join(agent, 'new.bin'), newBinary);
    writeFileSync(join(agent, 'logo.bin'), Buffer.from([9, 9, 0, 255]));
    rmSync(join(agent, 'delete-me.txt'));
    git(agent, 'mv', 'old-name.txt', 'new-name.txt');
    chmodSync(join(agent, 'script.sh'), 0o755);
    mkdirSync(join(agent, 'src', 'deep'), { recursive: true });
    writeFileSync(join(agent, 'src', 'deep', 'untracked.ts'), 'export const x = 1;\n');
    // The agent may also commit on its own: the patch is against the base, whatever it did.
    git(agent, 'add', 'README.md');
    git(agent, 'commit', '-q', '-m', 'agent commit');

    const patch = await patchText(extractPatch(hostSandbox(agent), ws.baseSha));
    expect(patch).toContain('GIT binary patch');

    const { changedFiles } = await ws.applyPatch(patch);
    expect([...changedFiles].sort()).toEqual(
      ['README.md', 'delete-me.txt', 'logo.bin', 'new-name.txt', 'new.bin', 'old-name.txt', 'script.sh', 'src/deep/untracked.ts'].sort(),
    );
    // The change is in the index; nothing the sandbox sent is written to the server's disk.
    expect(execFileSync('git', ['cat-file', 'blob', ':new.bin'], { cwd: ws.dir }).equals(newBinary)).toBe(true);
    expect(existsSync(join(ws.dir, 'new.bin'))).toBe(false);
    expect(git(ws.dir, 'ls-files', 'delete-me.txt')).toBe('');
    expect(git(ws.dir, 'ls-files', '-s', 'script.sh')).toMatch(/^100755 /);

    const sha = await ws.commit({ message: 'telecoder: more widgets\n\nBody line.' });
    expect(sha).toMatch(/^[0-9a-f]{40}$/);
    expect(git(ws.dir, 'log', '-1', '--format=%an <%ae>|%cn <%ce>|%s')).toBe(
      'TeleCoder <telecoder@users.noreply.github.com>|TeleCoder <telecoder@users.noreply.github.com>|telecoder: more widgets',
    );
    expect(readFileSync(join(ws.dir, '.git', 'config'), 'utf8')).not.toContain('TeleCoder');

    await ws.push({ access, branch: 'telecoder/abc' });
    expect(git(tmp, '--git-dir', remote, 'log', '--format=%H %s', 'trunk..telecoder/abc')).toBe(`${sha} telecoder: more widgets`);
    expect(git(tmp, '--git-dir', remote, 'rev-parse', 'telecoder/abc~1')).toBe(trunkSha);
    // The pushed tree is exactly the agent's tree.
    git(agent, 'add', '-A');
    expect(git(tmp, '--git-dir', remote, 'rev-parse', 'telecoder/abc^{tree}')).toBe(git(agent, 'write-tree'));
    expect(git(tmp, '--git-dir', remote, 'rev-parse', 'refs/heads/trunk')).toBe(trunkSha);
  });

  it('leaves installed dependencies and files the base ignores out of the change, even when the sandbox sends them', async () => {
    const seed = join(tmp, 'ignore-seed');
    git(tmp, 'init', '-q', '-b', 'main', seed);
    writeFileSync(join(seed, '.gitignore'), 'dist/\n*.log\n');
    writeFileSync(join(seed, 'index.js'), 'module.exports = 1;\n');
    git(seed, 'add', '-A');
    git(seed, 'commit', '-q', '-m', 'base');
    const bare = join(tmp, 'ignore.git');
    git(tmp, 'clone', '-q', '--bare', seed, bare);
    const ws = await GitWorkspace.clone({ access: { ...access, cloneUrl: pathToFileURL(bare).href }, dir: join(tmp, 'ws'), branch: 'telecoder/ign' });

    const agent = join(tmp, 'agent-ignore');
    git(tmp, 'clone', '-q', bare, agent);
    writeFileSync(join(agent, 'index.js'), 'module.exports = 2;\n');
    for (const dir of ['node_modules/left-pad', 'packages/a/node_modules/x', '.venv/bin', 'dist']) mkdirSync(join(agent, dir), { recursive: true });
    writeFileSync(join(agent, 'node_modules/left-pad/index.js'), 'pad\n');
    writeFileSync(join(agent, 'packages/a/node_modules/x/y.js'), 'y\n');
    writeFileSync(join(agent, '.venv/bin/python'), 'py\n');
    writeFileSync(join(agent, 'dist/bundle.js'), 'bundle\n');
    writeFileSync(join(agent, 'debug.log'), 'log\n');
    // A hostile sandbox: the agent stops ignoring anything and force-adds all of it, committing it.
    writeFileSync(join(agent, '.gitignore'), '');
    git(agent, 'add', '-f', '-A');
    git(agent, 'commit', '-q', '-m', 'everything');

    // extractPatch itself leaves node_modules and .venv out ...
    const patch = await patchText(extractPatch(hostSandbox(agent), ws.baseSha));
    expect(patch).not.toContain('left-pad');
    expect(patch).not.toContain('.venv');
    expect(patch).toContain('dist/bundle.js');
    // ... and the server drops them again from a patch that does carry them, with what the base ignores.
    const raw = git(agent, 'diff', '--binary', ws.baseSha, 'HEAD');
    expect(raw).toContain('node_modules/left-pad/index.js');
    const { changedFiles, leftOut } = await ws.applyPatch(`${raw}\n`);
    expect(changedFiles.sort()).toEqual(['.gitignore', 'index.js']);
    expect(leftOut).toEqual(['.venv/bin/python', 'debug.log', 'dist/bundle.js', 'node_modules/left-pad/index.js', 'packages/a/node_modules/x/y.js']);
    expect(existsSync(join(ws.dir, 'dist'))).toBe(false);
    expect(git(ws.dir, 'diff', '--cached', '--name-only').split('\n').sort()).toEqual(['.gitignore', 'index.js']);
  });

  it('onBaseTree runs work on the base tree with installed dependencies in place, then puts the work back exactly', async () => {
    const agent = agentCopy();
    const base = git(agent, 'rev-parse', 'HEAD');
    writeFileSync(join(agent, 'README.md'), '# Changed by the agent\n');
    writeFileSync(join(agent, 'brand-new.txt'), 'new\n');
    rmSync(join(agent, 'delete-me.txt'));
    git(agent, 'add', 'README.md');
    git(agent, 'commit', '-q', '-m', 'a checkpoint');
    const checkpoint = git(agent, 'rev-parse', 'HEAD');
    writeFileSync(join(agent, 'script.sh'), '#!/bin/sh\necho changed\n');
    mkdirSync(join(agent, 'node_modules', 'dep'), { recursive: true });
    writeFileSync(join(agent, 'node_modules', 'dep', 'index.js'), 'dep\n');
    const sandbox = hostSandbox(agent);

    const seen = await onBaseTree(sandbox, base, async () => {
      const readme = readFileSync(join(agent, 'README.md'), 'utf8');
      const present = ['brand-new.txt', 'delete-me.txt', 'node_modules/dep/index.js'].map((file) => existsSync(join(agent, file)));
      // A check on the base that leaves files behind and edits a tracked one.
      writeFileSync(join(agent, 'check-output.txt'), 'junk\n');
      writeFileSync(join(agent, 'src', 'app.js'), 'edited by a check\n');
      return { readme, present };
    });
    expect(seen.readme).toBe('# Widgets\n');
    expect(seen.present).toEqual([false, true, true]);

    expect(git(agent, 'rev-parse', 'HEAD')).toBe(checkpoint);
    expect(git(agent, 'rev-parse', '--abbrev-ref', 'HEAD')).not.toBe('HEAD');
    expect(readFileSync(join(agent, 'README.md'), 'utf8')).toBe('# Changed by the agent\n');
    expect(readFileSync(join(agent, 'script.sh'), 'utf8')).toBe('#!/bin/sh\necho changed\n');
    expect(readFileSync(join(agent, 'brand-new.txt'), 'utf8')).toBe('new\n');
    expect(readFileSync(join(agent, 'src', 'app.js'), 'utf8')).toBe('console.log("hi");\n');
    expect(existsSync(join(agent, 'delete-me.txt'))).toBe(false);
    expect(existsSync(join(agent, 'check-output.txt'))).toBe(false);
    expect(existsSync(join(agent, 'node_modules', 'dep', 'index.js'))).toBe(true);
    // The patch the server takes afterwards is the agent's work and nothing else.
    const patch = await patchText(extractPatch(sandbox, base));
    expect(patch).toContain('brand-new.txt');
    expect(patch).toContain('echo changed');
    expect(patch).not.toContain('check-output');
    expect(patch).not.toContain('edited by a check');
  });

  it('an empty patch changes nothing and commit returns null', async () => {
    const ws = await GitWorkspace.clone({ access, dir: join(tmp, 'ws'), branch: 'telecoder/empty' });
    const patch = await patchText(extractPatch(hostSandbox(agentCopy()), ws.baseSha));
    expect(patch).toBe('');
    expect(await ws.applyPatch(patch)).toEqual({ changedFiles: [], leftOut: [] });
    expect(await ws.commit({ message: 'nothing' })).toBeNull();
    expect(git(ws.dir, 'rev-parse', 'HEAD')).toBe(trunkSha);
  });

  it('refuses to push to the default branch, whether the provider names it or the clone found it', async () => {
    const ws = await GitWorkspace.clone({ access, dir: join(tmp, 'ws'), branch: 'telecoder/abc' });
    writeFileSync(join(ws.dir, 'x.txt'), 'x\n');
    git(ws.dir, 'add', 'x.txt');
    await ws.commit({ message: 'x' });
    await expect(ws.push({ access, branch: 'trunk' })).rejects.toThrow(/refusing to push to trunk: it is the default branch/);
    await expect(ws.push({ access: { ...access, defaultBranch: 'develop' }, branch: 'develop' })).rejects.toThrow(/default branch/);
    await expect(ws.push({ access, branch: '--force' })).rejects.toThrow(/not a valid branch name/);
    expect(git(tmp, '--git-dir', remote, 'rev-parse', 'refs/heads/trunk')).toBe(trunkSha);
    expect(git(tmp, '--git-dir', remote, 'for-each-ref', '--format=%(refname)')).toBe('refs/heads/trunk');
  });

  it('a second push is a fast-forward; a push over someone else\'s commits is rejected as "the branch moved"', async () => {
    const ws = await GitWorkspace.clone({ access, dir: join(tmp, 'ws'), branch: 'telecoder/abc' });
    writeFileSync(join(ws.dir, 'one.txt'), '1\n');
    git(ws.dir, 'add', 'one.txt');
    const first = await ws.commit({ message: 'one' });
    await ws.push({ access, branch: 'telecoder/abc' });
    writeFileSync(join(ws.dir, 'two.txt'), '2\n');
    git(ws.dir, 'add', 'two.txt');
    const second = await ws.commit({ message: 'two' });
    await ws.push({ access, branch: 'telecoder/abc', expectedRemoteSha: first! });
    expect(git(tmp, '--git-dir', remote, 'rev-list', 'trunk..telecoder/abc')).toBe([second, first].join('\n'));

    const other = await GitWorkspace.clone({ access, dir: join(tmp, 'other'), branch: 'telecoder/abc-2' });
    writeFileSync(join(other.dir, 'three.txt'), '3\n');
    git(other.dir, 'add', 'three.txt');
    await other.commit({ message: 'three' });
    await expect(other.push({ access, branch: 'telecoder/abc' })).rejects.toThrow(
      /push to telecoder\/abc of acme\/widgets was rejected: the branch moved .* never force-pushes/,
    );
    await expect(other.push({ access, branch: 'telecoder/abc', expectedRemoteSha: first! })).rejects.toThrow(/the branch moved/);
    expect(git(tmp, '--git-dir', remote, 'rev-parse', 'telecoder/abc')).toBe(second);
  });

  it('never runs hooks or an fsmonitor from the repository or the clone\'s config', async () => {
    const seed = join(tmp, 'seed');
    const markers = join(tmp, 'markers');
    mkdirSync(markers);
    mkdirSync(join(seed, '.githooks'));
    for (const hook of ['pre-commit', 'post-commit', 'commit-msg', 'pre-push', 'post-checkout', 'reference-transaction', 'fsmonitor']) {
      writeFileSync(join(seed, '.githooks', hook), `#!/bin/sh\ntouch "${markers}/${hook}"\n`);
      chmodSync(join(seed, '.githooks', hook), 0o755);
    }
    git(seed, 'add', '-A');
    git(seed, 'commit', '-q', '-m', 'hooks');
    git(seed, 'push', '-q', remote, 'trunk');
    const poison = (dir: string) =>
      writeFileSync(
        join(dir, '.git', 'config'),
        `${readFileSync(join(dir, '.git', 'config'), 'utf8')}[core]\n\thooksPath = .githooks\n\tfsmonitor = ${join(dir, '.githooks', 'fsmonitor')}\n`,
      );

    // The same poisoned setup does run hooks under plain git, so the assertion below means something.
    const plain = agentCopy('plain');
    poison(plain);
    execFileSync('git', ['-c', 'user.name=x', '-c', 'user.email=x@x', 'commit', '-q', '--allow-empty', '-m', 'probe'], {
      cwd: plain,
      env: { PATH: process.env.PATH ?? '', GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' },
      stdio: 'pipe',
    });
    expect(readdirSync(markers)).toEqual(expect.arrayContaining(['pre-commit', 'commit-msg', 'post-commit', 'fsmonitor']));
    rmSync(markers, { recursive: true });
    mkdirSync(markers);

    const ws = await GitWorkspace.clone({ access, dir: join(tmp, 'ws'), branch: 'telecoder/hooks' });
    poison(ws.dir);
    const agent = agentCopy();
    writeFileSync(join(agent, 'README.md'), '# changed\n');
    await ws.applyPatch(await extractPatch(hostSandbox(agent), ws.baseSha));
    await ws.commit({ message: 'change' });
    await ws.push({ access, branch: 'telecoder/hooks' });
    expect(git(tmp, '--git-dir', remote, 'log', '-1', '--format=%s', 'telecoder/hooks')).toBe('change');
    expect(readdirSync(markers)).toEqual([]);
  });

  it('keeps the token out of every file of the clone and of the sandbox copy; it reaches git only through the environment', async () => {
    const authorization = `AUTHORIZATION: basic ${Buffer.from(`x-access-token:${TOKEN}`).toString('base64')}`;
    const server = await startGitHttpServer(tmp, authorization.slice('AUTHORIZATION: '.length));
    servers.push(server);
    const httpAccess: RepoAccess = {
      repo: 'acme/widgets',
      cloneUrl: `${server.url}/remote.git`,
      gitEnv: gitCredentialEnv(server.url, TOKEN),
    };
    expect(httpAccess.gitEnv.GIT_CONFIG_VALUE_0).toBe(authorization);

    const ws = await GitWorkspace.clone({ access: httpAccess, dir: join(tmp, 'ws'), branch: 'telecoder/tok' });
    writeFileSync(join(ws.dir, 'a.txt'), 'a\n');
    git(ws.dir, 'add', 'a.txt');
    await ws.commit({ message: 'a' });
    await ws.push({ access: httpAccess, branch: 'telecoder/tok' });
    expect(git(tmp, '--git-dir', remote, 'log', '-1', '--format=%s', 'telecoder/tok')).toBe('a');
    expect(server.seen.length).toBeGreaterThan(0);

    const forms = tokenForms(TOKEN);
    const files = allFilesUnder(ws.dir);
    expect(files.some((file) => file.endsWith(join('.git', 'config')))).toBe(true);
    for (const file of files) {
      const content = readFileSync(file);
      for (const form of forms) expect(content.includes(form), `${file} contains the token`).toBe(false);
    }
    const tar = Buffer.concat((await readTar(ws.packForSandbox())).map((entry) => Buffer.concat([Buffer.from(entry.name), entry.body])));
    for (const form of forms) expect(tar.includes(form)).toBe(false);

    // Without the credential the same server refuses, so the header above is what let git in.
    await expect(
      GitWorkspace.clone({ access: { ...httpAccess, gitEnv: {} }, dir: join(tmp, 'ws-anon'), branch: 'telecoder/anon' }),
    ).rejects.toThrow(/could not clone acme\/widgets/);
    expect(existsSync(join(tmp, 'ws-anon'))).toBe(false);
  });

  it('keeps the token out of the error when a push fails', async () => {
    const ws = await GitWorkspace.clone({ access, dir: join(tmp, 'ws'), branch: 'telecoder/tok' });
    writeFileSync(join(ws.dir, 'a.txt'), 'a\n');
    git(ws.dir, 'add', 'a.txt');
    await ws.commit({ message: 'a' });
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const gitUrl = `http://127.0.0.1:${port}`;
    const error = await ws
      .push({ access: { repo: 'acme/widgets', cloneUrl: `${gitUrl}/acme/widgets.git`, gitEnv: gitCredentialEnv(gitUrl, TOKEN) }, branch: 'telecoder/tok' })
      .then(() => undefined, (reason: unknown) => reason as Error);
    expect(error).toBeInstanceOf(Error);
    expect(error!.message).toMatch(/could not push telecoder\/tok to acme\/widgets: git push failed/);
    expect(error!.message).toContain(`127.0.0.1:${port}`);
    for (const form of tokenForms(TOKEN)) {
      expect(error!.message).not.toContain(form);
      expect(String(error!.stack)).not.toContain(form);
    }
  });

  it('redacts a credential git echoes back in its error output', async () => {
    const env = gitCredentialEnv('https://github.com', TOKEN);
    // A credential under a key git parses as a boolean: git quotes the value in its complaint.
    const error = await runGit(['rev-parse', '--git-dir'], { cwd: remote, env: { ...env, GIT_CONFIG_KEY_0: 'core.bare' } }).then(
      () => undefined,
      (reason: unknown) => reason as GitError,
    );
    expect(error).toBeInstanceOf(GitError);
    expect(error!.message).toMatch(/git rev-parse failed \(exit \d+\): .*bad .*config.*\[REDACTED\]/s);
    for (const form of [...tokenForms(TOKEN), env.GIT_CONFIG_VALUE_0!]) {
      expect(error!.message).not.toContain(form);
      expect(error!.stderr).not.toContain(form);
    }
  });

  it('fails clearly on a repository without commits and leaves no half-made clone', async () => {
    const empty = join(tmp, 'empty.git');
    git(tmp, 'init', '-q', '--bare', empty);
    const dir = join(tmp, 'ws');
    await expect(
      GitWorkspace.clone({ access: { ...access, cloneUrl: pathToFileURL(empty).href }, dir, branch: 'telecoder/e' }),
    ).rejects.toThrow('acme/widgets has no commits on its default branch; push an initial commit first');
    expect(existsSync(dir)).toBe(false);
  });

  it('without a cwd, git finds no repository around the server\'s own directory', async () => {
    expect(git(process.cwd(), 'rev-parse', '--is-inside-work-tree')).toBe('true');
    await expect(runGit(['rev-parse', '--git-dir'])).rejects.toThrow(/git rev-parse failed .*not a git repository/);
  });

  it('runs git without the parent\'s GIT_* variables', async () => {
    process.env.GIT_DIR = join(tmp, 'nowhere');
    try {
      const { stdout } = await runGit(['rev-parse', '--absolute-git-dir'], { cwd: remote });
      expect(stdout.trim()).toBe(remote);
    } finally {
      delete process.env.GIT_DIR;
    }
  });

  it('refuses patches that touch .git/, however the patch spells the path, and paths outside the tree', async () => {
    const ws = await GitWorkspace.clone({ access, dir: join(tmp, 'ws'), branch: 'telecoder/evil' });
    const evil = [
      'diff --git a/.git/hooks/post-commit b/.git/hooks/post-commit',
      'new file mode 100755',
      'index 0000000..1111111',
      '--- /dev/null',
      '+++ b/.git/hooks/post-commit',
      '@@ -0,0 +1,2 @@',
      '+#!/bin/sh',
      `+touch ${join(tmp, 'pwned')}`,
      '',
    ].join('\n');
    const refused = /refusing the agent's patch: it touches .*git metadata \(\.git\)/;
    await expect(ws.applyPatch(evil)).rejects.toThrow(refused);
    await expect(ws.applyPatch(evil.replaceAll('.git/hooks', '.GIT/hooks'))).rejects.toThrow(refused);
    await expect(ws.applyPatch(evil.replaceAll('.git/hooks', 'sub/.git/hooks'))).rejects.toThrow(refused);
    // Names other file systems read as .git.
    await expect(ws.applyPatch(evil.replaceAll('.git/hooks', '.git./hooks'))).rejects.toThrow(refused);
    await expect(ws.applyPatch(evil.replaceAll('.git/hooks', 'GIT~1/hooks'))).rejects.toThrow(refused);
    // A quoted path with an octal escape (\056 is "."): git reads it as .git/hooks/…
    const quoted = evil
      .replace('diff --git a/.git/hooks/post-commit b/.git/hooks/post-commit', 'diff --git "a/\\056git/hooks/post-commit" "b/\\056git/hooks/post-commit"')
      .replace('+++ b/.git/hooks/post-commit', '+++ "b/\\056git/hooks/post-commit"');
    expect(quoted).toContain('"b/\\056git/hooks/post-commit"');
    await expect(ws.applyPatch(quoted)).rejects.toThrow(refused);
    // A traditional diff, with no `diff --git` line at all.
    const traditional = ['--- a/.git/hooks/post-commit', '+++ b/.git/hooks/post-commit', '@@ -0,0 +1 @@', '+boom', ''].join('\n');
    await expect(ws.applyPatch(traditional)).rejects.toThrow(refused);
    // A rename out of .git: git takes a rename's source from the server's index, which has none.
    const stolen = ['diff --git a/.git/config b/stolen', 'similarity index 100%', 'rename from .git/config', 'rename to stolen', ''].join('\n');
    await expect(ws.applyPatch(stolen)).rejects.toThrow(/does not apply .*\.git\/config: does not exist in index/);
    // Outside the tree.
    const outside = ['--- a/../evil.txt', '+++ b/../evil.txt', '@@ -0,0 +1 @@', '+boom', ''].join('\n');
    await expect(ws.applyPatch(outside)).rejects.toThrow(/refusing the agent's patch: it touches \.\.\/evil\.txt, and it is not a plain path inside the repository/);
    // git itself refuses the plain case too: the check above is a second wall, not the only one.
    await expect(runGit(['apply', '--index', '--binary', '-'], { cwd: ws.dir, input: evil })).rejects.toThrow(/invalid path '\.git\/hooks\/post-commit'/);
    expect(existsSync(join(ws.dir, '.git', 'hooks', 'post-commit'))).toBe(false);
    expect(git(ws.dir, 'diff', '--cached', '--name-only')).toBe('');

    // Names that only look like it are ordinary files.
    const lookalikes = ['.github/workflows/ci.yml', 'docs/.gitkeep', 'vendor/lib.git/README', '.gitattributes'].map((path) =>
      [`diff --git a/${path} b/${path}`, 'new file mode 100644', '--- /dev/null', `+++ b/${path}`, '@@ -0,0 +1 @@', '+ok', ''].join('\n'),
    );
    const { changedFiles } = await ws.applyPatch(lookalikes.join(''));
    expect(changedFiles.sort()).toEqual(['.gitattributes', '.github/workflows/ci.yml', 'docs/.gitkeep', 'vendor/lib.git/README']);
  });

  it('every git TeleCoder runs in the sandbox carries the one list of walls', async () => {
    const agent = agentCopy();
    writeFileSync(join(agent, 'README.md'), '# changed\n');
    const inner = hostSandbox(agent);
    const commands: string[][] = [];
    const sandbox: Sandbox = {
      ...inner,
      exec: (argv, options) => (commands.push(argv), inner.exec(argv, options)),
      execStream: (argv, options) => (commands.push(argv), inner.execStream(argv, options)),
    };
    const base = git(agent, 'rev-parse', 'HEAD');
    await patchText(extractPatch(sandbox, base));
    await diffSince(sandbox, base, 10_000);
    await commitCheckpoint(sandbox, 'step');
    await onBaseTree(sandbox, base, async () => undefined);
    commands.push([...SANDBOX_CHECKOUT]);

    expect(commands.length).toBeGreaterThan(10);
    for (const argv of commands) {
      if (argv[0] === 'git') {
        expect(argv.slice(1, 1 + GIT_WALL_ARGS.length), argv.join(' ')).toEqual([...GIT_WALL_ARGS]);
      } else {
        // A script (measuring the change): every git in it gets every wall.
        const script = argv.join(' ');
        const gits = script.split("'git'").length - 1;
        expect(gits, script).toBeGreaterThan(0);
        for (const entry of GIT_WALL_CONFIG) expect(script.split(`'-c' '${entry}'`).length - 1, entry).toBe(gits);
      }
    }
  });

  it('a filter driver, hooks and an fsmonitor the sandbox plants never run on the server (apply, commit, push)', async () => {
    const markers = join(tmp, 'markers');
    mkdirSync(markers);
    // Each planted program writes down the directory it ran in, then behaves.
    const plant = (dir: string) => {
      for (const [key, value] of [
        ['filter.evil.clean', `pwd >> ${markers}/filter-clean; cat`],
        ['filter.evil.smudge', `pwd >> ${markers}/filter-smudge; cat`],
        ['diff.evil.textconv', `pwd >> ${markers}/textconv; cat`],
        ['core.fsmonitor', join(markers, '..', 'fsmonitor.sh')],
        ['core.hooksPath', join(markers, '..', 'hooks')],
      ]) {
        git(dir, 'config', key!, value!);
      }
    };
    writeFileSync(join(tmp, 'fsmonitor.sh'), `#!/bin/sh\npwd >> ${markers}/fsmonitor\n`);
    chmodSync(join(tmp, 'fsmonitor.sh'), 0o755);
    mkdirSync(join(tmp, 'hooks'));
    for (const hook of ['pre-commit', 'commit-msg', 'post-commit', 'pre-push', 'reference-transaction', 'post-index-change']) {
      writeFileSync(join(tmp, 'hooks', hook), `#!/bin/sh\npwd >> ${markers}/hook-${hook}\n`);
      chmodSync(join(tmp, 'hooks', hook), 0o755);
    }
    const ranIn = () =>
      Object.fromEntries(readdirSync(markers).map((name) => [name, [...new Set(readFileSync(join(markers, name), 'utf8').trim().split('\n'))]]));

    // The sandbox: its .git/config defines the programs, and the change brings the attributes
    // that point every file at them.
    const agent = agentCopy();
    plant(agent);
    writeFileSync(join(agent, '.gitattributes'), '* filter=evil diff=evil\n');
    writeFileSync(join(agent, 'README.md'), '# changed by the agent\n');
    // The server's clone is poisoned the same way, as if its config could ever be reached.
    const ws = await GitWorkspace.clone({ access, dir: join(tmp, 'ws'), branch: 'telecoder/filters' });
    plant(ws.dir);

    const { changedFiles } = await ws.applyPatch(await extractPatch(hostSandbox(agent), ws.baseSha));
    expect(changedFiles.sort()).toEqual(['.gitattributes', 'README.md']);
    await ws.commit({ message: 'change' });
    await ws.push({ access, branch: 'telecoder/filters' });
    expect(git(tmp, '--git-dir', remote, 'show', 'telecoder/filters:.gitattributes')).toBe('* filter=evil diff=evil');

    // The planted filter is live: git in the sandbox ran it there (where it harms nothing) while
    // reading the change. The walls kept hooks and the fsmonitor from running even there.
    const ran = ranIn();
    expect(ran['filter-clean']).toEqual([agent]);
    expect(Object.keys(ran).sort()).toEqual(['filter-clean']);
    // And under plain git, without the walls, the same setup does run the fsmonitor and a hook.
    execFileSync('git', ['-c', 'user.name=x', '-c', 'user.email=x@x', 'commit', '-q', '-a', '-m', 'probe'], {
      cwd: agent,
      env: { PATH: process.env.PATH ?? '', GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' },
      stdio: 'pipe',
    });
    expect(Object.keys(ranIn())).toEqual(expect.arrayContaining(['fsmonitor', 'hook-pre-commit', 'hook-post-commit']));
    for (const dirs of Object.values(ranIn())) expect(dirs).not.toContain(ws.dir);
  });

  it('a patch cannot write outside the clone through a symlink it creates', async () => {
    const ws = await GitWorkspace.clone({ access, dir: join(tmp, 'ws'), branch: 'telecoder/link' });
    const outside = join(tmp, 'outside');
    mkdirSync(outside);
    const patch = [
      'diff --git a/link b/link',
      'new file mode 120000',
      '--- /dev/null',
      '+++ b/link',
      '@@ -0,0 +1 @@',
      `+${outside}`,
      '\\ No newline at end of file',
      'diff --git a/link/escaped.txt b/link/escaped.txt',
      'new file mode 100644',
      '--- /dev/null',
      '+++ b/link/escaped.txt',
      '@@ -0,0 +1 @@',
      '+gotcha',
      '',
    ].join('\n');
    await expect(ws.applyPatch(patch)).rejects.toThrow(/does not apply.*beyond a symbolic link/s);
    expect(readdirSync(outside)).toEqual([]);
  });

  it('refuses an oversized patch and explains a patch that does not apply', async () => {
    // Patches up to 3 × 100 bytes + 1 KiB per file: 1324 bytes here.
    const ws = await GitWorkspace.clone({ access, dir: join(tmp, 'ws'), branch: 'telecoder/big', changeLimits: { maxBytes: 100, maxFiles: 1 } });
    await expect(ws.applyPatch(`diff --git a/x b/x\n${'+'.repeat(2000)}\n`)).rejects.toThrow(
      /the agent's patch was refused: it is longer than 1\.29 KB, .*TELECODER_MAX_CHANGE_SIZE/,
    );
    const stale = [
      'diff --git a/README.md b/README.md',
      '--- a/README.md',
      '+++ b/README.md',
      '@@ -1 +1 @@',
      '-# Not what the file says',
      '+# Widgets!',
      '',
    ].join('\n');
    await expect(ws.applyPatch(stale)).rejects.toThrow(/the agent's patch does not apply to telecoder\/big at [0-9a-f]{12}: .*README\.md/s);
    expect(git(ws.dir, 'diff', '--cached', '--name-only')).toBe('');
  });

  it('packs the clone for the sandbox: its .git and .gitignore files, owned by uid/gid 1000, rooted at "."; the sandbox checks out the rest', async () => {
    const work = `${remote}.nested`;
    git(tmp, 'clone', '-q', remote, work);
    mkdirSync(join(work, 'src', 'gen'), { recursive: true });
    writeFileSync(join(work, '.gitignore'), 'dist/\n');
    writeFileSync(join(work, 'src', 'gen', '.gitignore'), '*.out\n');
    git(work, 'add', '-A');
    git(work, 'commit', '-q', '-m', 'ignores');
    git(work, 'push', '-q', 'origin', 'HEAD:trunk');
    const ws = await GitWorkspace.clone({ access, dir: join(tmp, 'ws'), branch: 'telecoder/pack' });
    const entries = await readTar(ws.packForSandbox());
    const names = entries.map((entry) => entry.name.replace(/\/$/, ''));
    expect(names[0]).toBe('.');
    expect(names.every((name) => name === '.' || name.startsWith('./'))).toBe(true);
    expect(names).toEqual(expect.arrayContaining(['./.gitignore', './src/gen/.gitignore', './.git/HEAD', './.git/config', './.git/index']));
    expect(names.filter((name) => !name.startsWith('./.git/') && !name.endsWith('.gitignore') && name !== '.' && name !== './.git')).toEqual(['./src', './src/gen']);
    expect(entries.every((entry) => entry.uid === 1000 && entry.gid === 1000)).toBe(true);
    expect(entries.find((entry) => entry.name === './.git/HEAD')!.body.toString()).toBe('ref: refs/heads/telecoder/pack\n');
    // Installed dependencies are kept out of the agent's own `git status`.
    expect(entries.find((entry) => entry.name === './.git/info/exclude')!.body.toString()).toMatch(/^node_modules\/$/m);

    // What the sandbox does with it: a checkout from that .git gives the whole tree at the base.
    const sandboxDir = join(tmp, 'sandbox-copy');
    mkdirSync(sandboxDir);
    const { extract: extractTar } = await import('tar-fs');
    await new Promise<void>((resolve, reject) => {
      const out = extractTar(sandboxDir);
      out.on('finish', () => resolve());
      out.on('error', reject);
      ws.packForSandbox().pipe(out as unknown as NodeJS.WritableStream);
    });
    // The tar made the files uid 1000's; git would refuse a repository owned by someone else.
    const inSandbox = (...args: string[]) => git(sandboxDir, '-c', 'safe.directory=*', ...args);
    inSandbox('reset', '-q', '--hard');
    expect(readFileSync(join(sandboxDir, 'logo.bin')).equals(Buffer.from([0, 1, 2, 3, 255, 254, 0, 0, 7, 8, 9]))).toBe(true);
    expect(statSync(join(sandboxDir, 'script.sh')).isFile()).toBe(true);
    expect(inSandbox('status', '--porcelain')).toBe('');
    expect(inSandbox('rev-parse', 'HEAD')).toBe(ws.baseSha);
  });

  it('extractPatch refuses a change over the limits in the sandbox, naming its largest files, and fails clearly when the agent broke .git', async () => {
    const ws = await GitWorkspace.clone({ access, dir: join(tmp, 'ws'), branch: 'telecoder/x' });
    const agent = agentCopy();
    writeFileSync(join(agent, 'big.txt'), 'x'.repeat(10_000));
    writeFileSync(join(agent, 'README.md'), 'y'.repeat(3_000));
    await expect(extractPatch(hostSandbox(agent), ws.baseSha, { limits: { maxBytes: 1000, maxFiles: 10 } })).rejects.toThrow(
      /its 2 changed file\(s\) come to 12\.7 KB, over the 1000 B limit; the largest: big\.txt \(9\.77 KB\), README\.md \(2\.93 KB\)\. .*raise TELECODER_MAX_CHANGE_SIZE/,
    );
    await expect(extractPatch(hostSandbox(agent), ws.baseSha, { limits: { maxBytes: 100_000, maxFiles: 1 } })).rejects.toThrow(
      /touches 2 files, over the limit of 1; the largest: big\.txt .*raise TELECODER_MAX_CHANGE_FILES/,
    );
    await expect(extractPatch(hostSandbox(agent), 'HEAD')).rejects.toThrow(/full commit id/);
    rmSync(join(agent, '.git'), { recursive: true });
    const sandbox = hostSandbox(agent);
    // Nothing above the workspace may stand in for the deleted repository.
    const ceiling = (options: ExecOptions) => ({ ...options, env: { ...options.env, GIT_CEILING_DIRECTORIES: tmp } });
    const noParentRepo: Sandbox = {
      ...sandbox,
      exec: (argv, options) => sandbox.exec(argv, ceiling(options)),
      execStream: (argv, options) => sandbox.execStream(argv, ceiling(options)),
    };
    await expect(extractPatch(noParentRepo, ws.baseSha)).rejects.toThrow(/git metadata is unusable .*deleted or rewritten \.git/s);
  });
});
