import { randomBytes, randomUUID } from 'node:crypto';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTool } from '../../src/agent/agent-tools.js';
import { DockerRuntime } from '../../src/sandbox/docker/docker-runtime.js';
import type { Sandbox } from '../../src/sandbox/runtime.js';
import { SANDBOX_CONTEXT_DIR, TEST_BASE_IMAGE, ensureTestImage } from '../helpers/sandbox-image.js';

// Sandbox.writeFile is what the agent's write_file and edit_file tools call. The agent is hostile:
// whatever it plants (symbolic links above all) must not let a write land outside what the
// sandbox user (uid 1000) may write itself.

const docker = new Dockerode();
const instance = `write-file-test-${randomUUID().slice(0, 8)}`;
const MiB = 1024 * 1024;

let runtime: DockerRuntime;
let sandbox: Sandbox;

async function sh(script: string): Promise<string> {
  const result = await sandbox.exec(['sh', '-c', script], { timeoutMs: 20_000 });
  expect(result.exitCode, `${script}: ${result.stderr}`).toBe(0);
  return result.stdout;
}

beforeAll(async () => {
  const image = await ensureTestImage();
  runtime = new DockerRuntime({ image, baseImage: TEST_BASE_IMAGE, contextDir: SANDBOX_CONTEXT_DIR, instanceLabel: instance });
  sandbox = await runtime.create({
    sessionId: `wf-${randomUUID().slice(0, 12)}`,
    network: 'none',
    limits: { memoryBytes: 256 * MiB, cpus: 1, pids: 128, wallClockMs: 300_000 },
  });
}, 600_000);

afterAll(async () => {
  await sandbox?.destroy();
  const leftovers = await docker.listContainers({ all: true, filters: { label: [`telecoder.instance=${instance}`] } });
  await Promise.all(leftovers.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
});

describe('Sandbox.writeFile against planted symbolic links', () => {
  it('cannot write through a link into a root-owned directory (ln -s /usr/bin x; write x/timeout)', async () => {
    const before = await sh('sha256sum /usr/bin/timeout; stat -c "%u %s" /usr/bin/timeout');
    await sh('ln -s /usr/bin /workspace/x');

    await expect(sandbox.writeFile('/workspace/x/timeout', '#!/bin/sh\nexec "$@"\n')).rejects.toThrow(
      /\/workspace\/x is a symbolic link \(to \/usr\/bin\)/,
    );

    expect(await sh('sha256sum /usr/bin/timeout; stat -c "%u %s" /usr/bin/timeout')).toBe(before);
    // Still the real thing: it still kills what runs too long.
    const killed = await sandbox.exec(['timeout', '-s', 'KILL', '1s', 'sleep', '30'], { timeoutMs: 20_000 });
    expect(killed.exitCode).toBe(137);
  });

  it('cannot replace a root-owned file a link points to (ln -s /etc/passwd p; write p)', async () => {
    const before = await sh('sha256sum /etc/passwd');
    await sh('ln -s /etc/passwd /workspace/p');

    await expect(sandbox.writeFile('/workspace/p', 'root::0:0::/root:/bin/sh\n')).rejects.toThrow(
      /\/workspace\/p is a symbolic link \(to \/etc\/passwd\)/,
    );

    expect(await sh('sha256sum /etc/passwd')).toBe(before);
    // The link itself is left as the agent made it, and no root-owned file appeared in its place.
    expect(await sh('stat -c "%F %u" /workspace/p; readlink /workspace/p')).toBe('symbolic link 1000\n/etc/passwd\n');
  });

  it('refuses a link anywhere along the path, also one that only leads to new directories', async () => {
    await sh('mkdir -p /workspace/deep/a && ln -s /etc /workspace/deep/a/etc-link');

    await expect(sandbox.writeFile('/workspace/deep/a/etc-link/telecoder/evil.conf', 'x')).rejects.toThrow(
      /\/workspace\/deep\/a\/etc-link is a symbolic link \(to \/etc\)/,
    );
    expect(await sh('test -e /etc/telecoder && echo exists || echo absent')).toBe('absent\n');
  });

  it('refuses a link that stays inside the workspace too, naming the real path to write instead', async () => {
    await sh('mkdir -p /workspace/real && ln -s real /workspace/alias');

    await expect(sandbox.writeFile('/workspace/alias/file.txt', 'x')).rejects.toThrow(/\/workspace\/alias is a symbolic link \(to real\)/);
    expect(await sh('ls -A /workspace/real')).toBe('');
  });

  it('writes as the sandbox user: a root-owned directory is simply not writable', async () => {
    await expect(sandbox.writeFile('/usr/bin/telecoder-planted', 'x')).rejects.toThrow(/permission denied/i);
    await expect(sandbox.writeFile('/etc/passwd', 'x')).rejects.toThrow(/permission denied/i);
    expect(await sh('test -e /usr/bin/telecoder-planted && echo exists || echo absent')).toBe('absent\n');
  });

  it('refuses to replace a directory with a file', async () => {
    await sh('mkdir -p /workspace/a-dir');
    await expect(sandbox.writeFile('/workspace/a-dir', 'x')).rejects.toThrow(/is a directory/);
  });
});

describe("the agent's write_file and edit_file tools", () => {
  const tool = (name: string, args: object) =>
    runTool({ id: `call-${randomUUID()}`, name, arguments: JSON.stringify(args) }, { sandbox, commandTimeoutMs: 30_000, signal: new AbortController().signal });

  it('tell the model it cannot write through a planted link, and leave /usr/bin/git and /etc/passwd alone', async () => {
    const before = await sh('sha256sum /usr/bin/git /etc/passwd');
    await sh('ln -s /usr/bin /workspace/bin-link && ln -s /etc/passwd /workspace/passwd-link');

    const written = await tool('write_file', { path: 'bin-link/git', content: '#!/bin/sh\necho pwned\n' });
    expect(written).toMatchObject({ kind: 'result', isError: true });
    expect((written as { content: string }).content).toMatch(/bin-link is a symbolic link \(to \/usr\/bin\)/);

    // edit_file reads through the link (as the sandbox user, who may read it) but cannot write back:
    // no password-less root.
    const edited = await tool('edit_file', { path: 'passwd-link', old_string: 'root:x:0:0:', new_string: 'root::0:0:' });
    expect(edited).toMatchObject({ kind: 'result', isError: true });
    expect((edited as { content: string }).content).toMatch(/passwd-link is a symbolic link \(to \/etc\/passwd\)/);

    expect(await sh('sha256sum /usr/bin/git /etc/passwd')).toBe(before);
    expect(await sh('git --version')).toMatch(/^git version/);
  });

  it('still write and edit ordinary files', async () => {
    expect(await tool('write_file', { path: 'src/app.ts', content: 'export const a = 1;\n' })).toMatchObject({ kind: 'result', isError: false });
    expect(await tool('edit_file', { path: 'src/app.ts', old_string: '= 1', new_string: '= 2' })).toMatchObject({ kind: 'result', isError: false });
    expect(await sh('cat /workspace/src/app.ts')).toBe('export const a = 2;\n');
  });
});

describe('Sandbox.writeFile still writes what the agent asks', () => {
  it('creates missing parent directories owned by the sandbox user, and the file 0644', async () => {
    await sandbox.writeFile('/workspace/new/nested/dirs/notes.txt', 'hello\n');
    const stat = await sh('cd /workspace && stat -c "%n %u:%g %a %F" new new/nested new/nested/dirs new/nested/dirs/notes.txt');
    expect(stat.trim().split('\n')).toEqual([
      'new 1000:1000 755 directory',
      'new/nested 1000:1000 755 directory',
      'new/nested/dirs 1000:1000 755 directory',
      'new/nested/dirs/notes.txt 1000:1000 644 regular file',
    ]);
    expect(await sh('cat /workspace/new/nested/dirs/notes.txt')).toBe('hello\n');
  });

  it('keeps the mode of a file it replaces, and shrinks it when the new content is shorter', async () => {
    await sandbox.writeFile('/workspace/run.sh', '#!/bin/sh\necho a long first version\n');
    await sh('chmod 750 /workspace/run.sh');
    await sandbox.writeFile('/workspace/run.sh', '#!/bin/sh\necho two\n');
    expect(await sh('/workspace/run.sh')).toBe('two\n');
    expect(await sh('stat -c "%a %u:%g" /workspace/run.sh')).toBe('750 1000:1000\n');
  });

  it('writes binary content byte for byte, every byte value and a megabyte of noise', async () => {
    const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    await sandbox.writeFile('/workspace/bytes.bin', every);
    expect(await sh('od -An -v -tx1 /workspace/bytes.bin | tr -s " \\n" " "')).toBe(
      ` ${[...every].map((b) => b.toString(16).padStart(2, '0')).join(' ')} `,
    );

    const noise = randomBytes(MiB + 17);
    await sandbox.writeFile('/workspace/noise.bin', noise);
    const { createHash } = await import('node:crypto');
    expect(await sh('sha256sum < /workspace/noise.bin')).toBe(`${createHash('sha256').update(noise).digest('hex')}  -\n`);
  });

  it('writes an empty file, UTF-8 text, and a name with spaces and quotes', async () => {
    await sandbox.writeFile('/workspace/empty.txt', '');
    expect(await sh('stat -c %s /workspace/empty.txt')).toBe('0\n');
    const name = `/workspace/it's a "name" $(x).txt`;
    await sandbox.writeFile(name, 'héllo – ✓\n');
    const read = await sandbox.exec(['cat', name], { timeoutMs: 10_000 });
    expect(read.stdout).toBe('héllo – ✓\n');
  });

  it('writes outside the workspace where the sandbox user may (its home, /tmp)', async () => {
    await sandbox.writeFile('/tmp/scratch/a.txt', 'a');
    await sandbox.writeFile('/home/sandbox/.config/tool/settings.json', '{}');
    expect(await sh('cat /tmp/scratch/a.txt /home/sandbox/.config/tool/settings.json')).toBe('a{}');
  });

  it('leaves no temporary file behind, after a write or a refused one', async () => {
    await sandbox.writeFile('/workspace/tidy/one.txt', '1');
    await expect(sandbox.writeFile('/workspace/tidy', 'x')).rejects.toThrow(/is a directory/);
    expect(await sh('ls -A /workspace/tidy')).toBe('one.txt\n');
  });

  it('says how to fix a relative path', async () => {
    await expect(sandbox.writeFile('relative/path.txt', 'x')).rejects.toThrow(/absolute path/);
  });
});
