import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, ftruncateSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { deflateSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GitWorkspace } from '../../src/git/git-workspace.js';
import type { RepoAccess } from '../../src/gitprovider/provider.js';
import { git } from '../helpers/git-fixtures.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** git's base85 line encoding of binary hunks, to write patches by hand (the hostile sandbox's part). */
function base85Lines(data: Buffer): string[] {
  const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~';
  const lines: string[] = [];
  for (let start = 0; start < data.length; start += 52) {
    const piece = data.subarray(start, start + 52);
    const padded = Buffer.concat([piece, Buffer.alloc((4 - (piece.length % 4)) % 4)]);
    let line = piece.length <= 26 ? String.fromCharCode(64 + piece.length) : String.fromCharCode(96 + piece.length - 26);
    for (let offset = 0; offset < padded.length; offset += 4) {
      let value = padded.readUInt32BE(offset);
      const digits: string[] = [];
      for (let index = 0; index < 5; index++) {
        digits.unshift(alphabet[value % 85]!);
        value = Math.floor(value / 85);
      }
      line += digits.join('');
    }
    lines.push(line);
  }
  return lines;
}

/** A new file's binary patch whose hunk headers say what the caller wants, whatever the data is. */
function binaryPatch(path: string, hunks: { forward: string; forwardData: Buffer; reverse: string }): string {
  return [
    `diff --git a/${path} b/${path}`,
    'new file mode 100644',
    `index ${'0'.repeat(40)}..${'1'.repeat(40)}`,
    'GIT binary patch',
    hunks.forward,
    ...base85Lines(deflateSync(hunks.forwardData)),
    '',
    hunks.reverse,
    ...base85Lines(deflateSync(Buffer.alloc(0))),
    '',
    '',
  ].join('\n');
}

/** The patch as a sandbox would stream it: `git diff --binary` in a work tree, read as it comes. */
function streamedDiff(dir: string, base: string): Readable {
  const child = spawn('git', ['diff', '--cached', '--binary', '--full-index', base], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return child.stdout;
}

describe('the server refuses a patch over the change limits before git expands it', () => {
  let tmp: string;
  let remote: string;
  let access: RepoAccess;
  let workspace: GitWorkspace;

  beforeEach(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'telecoder-guard-'));
    const seed = join(tmp, 'seed');
    git(tmp, 'init', '-q', '-b', 'main', seed);
    writeFileSync(join(seed, 'README.md'), '# Widgets\n');
    // Random, so that a small edit to it travels as a binary delta.
    writeFileSync(join(seed, 'data.bin'), randomBytes(3 * MiB));
    git(seed, 'add', '-A');
    git(seed, 'commit', '-q', '-m', 'base');
    remote = join(tmp, 'remote.git');
    git(tmp, 'clone', '-q', '--bare', seed, remote);
    access = { repo: 'acme/widgets', cloneUrl: pathToFileURL(remote).href, gitEnv: {} };
    workspace = await GitWorkspace.clone({ access, dir: join(tmp, 'ws'), branch: 'telecoder/guard' });
  });

  afterEach(() => {
    rmSync(tmp, { recursive: true, force: true });
  });

  /** The clone's object store and index, to show that git wrote nothing. */
  const clonedState = () => [git(workspace.dir, 'count-objects', '-v'), git(workspace.dir, 'write-tree')].join('\n');

  /** A work tree the "agent" changed, staged, as the sandbox would have it before `git diff`. */
  function agentTree(change: (dir: string) => void): string {
    const dir = join(tmp, 'agent');
    git(tmp, 'clone', '-q', remote, dir);
    change(dir);
    git(dir, 'add', '-A');
    return dir;
  }

  it('a stream whose `literal` header claims 3 GB is refused at that line, without waiting for the rest', async () => {
    const before = clonedState();
    const header = binaryPatch('huge.bin', { forward: `literal ${3 * GiB}`, forwardData: Buffer.alloc(1024), reverse: 'literal 0' });
    const head = header.slice(0, header.indexOf('\n', header.indexOf('literal')) + 1);
    let sent = 0;
    // The rest never comes: a refusal here cannot have come from git, which needs the whole patch.
    const endless = new Readable({
      read() {
        const chunk = sent === 0 ? Buffer.from(head) : Buffer.from(`${'z'.repeat(65)}\n`.repeat(1000));
        sent += chunk.length;
        this.push(chunk);
      },
    });
    await expect(workspace.applyPatch(endless)).rejects.toThrow(
      /the agent's patch was refused before git expanded it: its binary files come to at least 3 GB \(huge\.bin alone to 3 GB\), over the 100 MB limit; .*raise TELECODER_MAX_CHANGE_SIZE/,
    );
    expect(endless.destroyed).toBe(true);
    expect(sent).toBeLessThan(2 * MiB);
    expect(clonedState()).toBe(before);
    expect(existsSync(join(workspace.dir, '.git', 'telecoder-incoming.patch'))).toBe(false);

    // The same for the old side of a pair (git inflates both while reading the patch), and for a
    // size git would read another way than a plain number.
    const oldSide = binaryPatch('huge.bin', { forward: 'literal 0', forwardData: Buffer.alloc(0), reverse: `literal ${3 * GiB}` });
    await expect(workspace.applyPatch(oldSide)).rejects.toThrow(/it carries 3 GB of the old content of binary files .*\(huge\.bin alone 3 GB\)/);
    const sly = binaryPatch('huge.bin', { forward: 'literal 0', forwardData: Buffer.alloc(0), reverse: `literal  +${3 * GiB}` });
    await expect(workspace.applyPatch(sly)).rejects.toThrow(/the patch for huge\.bin has a binary hunk size git could read differently/);
    expect(clonedState()).toBe(before);
  });

  it('a real patch of 150 MB of zeros (a 150 KB patch) is refused by its inflated size, and applies once the limit allows it', async () => {
    const agent = agentTree((dir) => {
      const fd = openSync(join(dir, 'zeros.bin'), 'w');
      ftruncateSync(fd, 150 * MiB);
      closeSync(fd);
    });
    const base = git(agent, 'rev-parse', 'HEAD');
    const patch = execFileSync('git', ['diff', '--cached', '--binary', '--full-index', base], { cwd: agent, maxBuffer: 4 * MiB });
    expect(patch.length).toBeLessThan(MiB);
    const before = clonedState();
    await expect(workspace.applyPatch(patch)).rejects.toThrow(/its binary files come to at least 150 MB \(zeros\.bin alone to 150 MB\), over the 100 MB limit/);
    expect(clonedState()).toBe(before);

    const roomy = await GitWorkspace.clone({ access, dir: join(tmp, 'ws-roomy'), branch: 'telecoder/roomy', changeLimits: { maxBytes: 200 * MiB, maxFiles: 10 } });
    expect((await roomy.applyPatch(streamedDiff(agent, base))).changedFiles).toEqual(['zeros.bin']);
    expect(git(roomy.dir, 'cat-file', '-s', ':zeros.bin')).toBe(String(150 * MiB));
  });

  it('a binary delta counts as the file it makes, not its own small size', async () => {
    const agent = agentTree((dir) => {
      const data = Buffer.from(execFileSync('git', ['show', 'HEAD:data.bin'], { cwd: dir, maxBuffer: 8 * MiB }));
      data.write('a small edit', 1000);
      writeFileSync(join(dir, 'data.bin'), data);
    });
    const base = git(agent, 'rev-parse', 'HEAD');
    const patch = execFileSync('git', ['diff', '--cached', '--binary', '--full-index', base], { cwd: agent, encoding: 'utf8' });
    expect(patch).toMatch(/^delta \d+$/m);
    expect(patch.length).toBeLessThan(10_000);

    const tight = await GitWorkspace.clone({ access, dir: join(tmp, 'ws-tight'), branch: 'telecoder/tight', changeLimits: { maxBytes: 2 * MiB, maxFiles: 10 } });
    await expect(tight.applyPatch(patch)).rejects.toThrow(/its binary files come to at least 3 MB \(data\.bin alone to 3 MB\), over the 2 MB limit/);
    // Within the limit, the same delta applies exactly.
    expect((await workspace.applyPatch(patch)).changedFiles).toEqual(['data.bin']);
    expect(execFileSync('git', ['cat-file', 'blob', ':data.bin'], { cwd: workspace.dir, maxBuffer: 8 * MiB }).toString('latin1')).toContain('a small edit');
  });

  it('an endless text patch is cut at the byte limit: the server reads no more than that and a little', async () => {
    const limited = await GitWorkspace.clone({ access, dir: join(tmp, 'ws-limited'), branch: 'telecoder/lim', changeLimits: { maxBytes: MiB, maxFiles: 10 } });
    const line = Buffer.from(`+${'a'.repeat(1023)}\n`.repeat(64));
    let sent = 0;
    const endless = new Readable({
      read() {
        const chunk = sent === 0 ? Buffer.from('diff --git a/x b/x\nnew file mode 100644\n--- /dev/null\n+++ b/x\n@@ -0,0 +1,999999 @@\n') : line;
        sent += chunk.length;
        this.push(chunk);
      },
    });
    // 3 × 1 MiB + 1 KiB per file.
    await expect(limited.applyPatch(endless)).rejects.toThrow(/it is longer than 3\.01 MB, more than a change within the limits \(TELECODER_MAX_CHANGE_SIZE=1 MB, TELECODER_MAX_CHANGE_FILES=10\) makes/);
    expect(sent).toBeGreaterThan(3 * MiB);
    expect(sent).toBeLessThan(3 * MiB + 10 * 1024 + MiB);
    expect(endless.destroyed).toBe(true);
  });

  it('too many files are refused, as git diffs and as traditional diffs', async () => {
    const limited = await GitWorkspace.clone({ access, dir: join(tmp, 'ws-files'), branch: 'telecoder/files', changeLimits: { maxBytes: MiB, maxFiles: 10 } });
    const names = Array.from({ length: 11 }, (_, index) => `file-${index}.txt`);
    const gitStyle = names.map((name) => `diff --git a/${name} b/${name}\nnew file mode 100644\n--- /dev/null\n+++ b/${name}\n@@ -0,0 +1 @@\n+x\n`).join('');
    const traditional = names.map((name) => `--- a/${name}\n+++ b/${name}\n@@ -0,0 +1 @@\n+x\n`).join('');
    for (const patch of [gitStyle, traditional]) {
      await expect(limited.applyPatch(patch)).rejects.toThrow(/the agent's patch was refused: it changes more than 10 files, over the limit; .*raise TELECODER_MAX_CHANGE_FILES/);
    }
    expect(git(limited.dir, 'diff', '--cached', '--name-only')).toBe('');
    // Ten is fine, and a hunk's own lines that look like headers do not count as files.
    const ten = names.slice(0, 10).map((name) => `diff --git a/${name} b/${name}\nnew file mode 100644\n--- /dev/null\n+++ b/${name}\n@@ -0,0 +1,2 @@\n+--- a\n++++ b\n`).join('');
    expect((await limited.applyPatch(ten)).changedFiles).toHaveLength(10);
  });
});
