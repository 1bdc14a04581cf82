import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Writable } from 'node:stream';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerRuntime } from '../../src/sandbox/docker/docker-runtime.js';
import { DockerSandbox, SandboxStoppedError } from '../../src/sandbox/docker/docker-sandbox.js';
import type { Sandbox, SandboxLimits } from '../../src/sandbox/runtime.js';
import { SANDBOX_CONTEXT_DIR, TEST_BASE_IMAGE, ensureTestImage } from '../helpers/sandbox-image.js';
import { within } from '../helpers/within.js';

const docker = new Dockerode();
const instance = `docker-runtime-test-${randomUUID().slice(0, 8)}`;
const MiB = 1024 * 1024;
const defaultLimits: SandboxLimits = { memoryBytes: 256 * MiB, cpus: 1, pids: 128, wallClockMs: 120_000 };

let image: string;
let runtime: DockerRuntime;
const tempDirs: string[] = [];
const tempImages: string[] = [];

function newSessionId(): string {
  return `rt-${randomUUID().slice(0, 12)}`;
}

async function createSandbox(limits: Partial<SandboxLimits> = {}, sessionId = newSessionId()): Promise<Sandbox> {
  return runtime.create({ sessionId, network: 'none', limits: { ...defaultLimits, ...limits } });
}

async function inspectOrNull(id: string): Promise<Dockerode.ContainerInspectInfo | null> {
  try {
    return await docker.getContainer(id).inspect();
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return null;
    throw error;
  }
}

beforeAll(async () => {
  image = await ensureTestImage();
  runtime = new DockerRuntime({ image, baseImage: TEST_BASE_IMAGE, contextDir: SANDBOX_CONTEXT_DIR, instanceLabel: instance });
}, 600_000);

afterAll(async () => {
  const leftovers = await docker.listContainers({ all: true, filters: { label: [`telecoder.instance=${instance}`] } });
  await Promise.all(leftovers.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  await Promise.all(tempImages.map((name) => docker.getImage(name).remove({ force: true }).catch(() => undefined)));
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('DockerRuntime', () => {
  it('creates a locked-down container: unprivileged user, no capabilities, limits, labels, no mounts', async () => {
    const sessionId = newSessionId();
    const sandbox = await createSandbox({ memoryBytes: 300 * MiB, cpus: 0.5, pids: 77, wallClockMs: 90_500 }, sessionId);
    const info = await docker.getContainer(sandbox.id).inspect();

    expect(info.Name).toBe(`/telecoder-${sessionId}`);
    expect(info.State.Running).toBe(true);
    expect(info.Config.User).toBe('1000:1000');
    expect(info.Config.WorkingDir).toBe('/workspace');
    expect(info.Config.Cmd).toEqual(['sleep', '91']);
    expect(info.Config.Labels).toMatchObject({
      'telecoder.managed': 'true',
      'telecoder.session': sessionId,
      'telecoder.instance': instance,
    });
    expect(info.HostConfig.CapDrop).toEqual(['ALL']);
    expect(info.HostConfig.CapAdd ?? []).toEqual([]);
    expect(info.HostConfig.SecurityOpt).toContain('no-new-privileges:true');
    expect(info.HostConfig.Privileged).toBe(false);
    expect(info.HostConfig.Init).toBe(true);
    expect(info.HostConfig.Memory).toBe(300 * MiB);
    expect(info.HostConfig.MemorySwap).toBe(300 * MiB);
    expect(info.HostConfig.NanoCpus).toBe(500_000_000);
    expect(info.HostConfig.PidsLimit).toBe(77);
    expect(info.HostConfig.NetworkMode).toBe('none');
    expect(info.HostConfig.AutoRemove).toBe(false);
    expect(info.HostConfig.Binds ?? []).toEqual([]);
    expect(info.Mounts).toEqual([]);
    expect(sandbox.sessionId).toBe(sessionId);
    expect(sandbox.workspace).toBe('/workspace');
    await sandbox.destroy();
  });

  it('builds an image that runs as the sandbox user with no entrypoint', async () => {
    const info = await docker.getImage(image).inspect();
    expect(info.Config.User).toBe('1000:1000');
    expect(info.Config.WorkingDir).toBe('/workspace');
    expect(info.Config.Labels?.['telecoder.sandbox-image']).toBe('1');
    expect(info.Config.Entrypoint ?? []).toEqual([]);
  });

  it('replaces a leftover container of the same session on retry', async () => {
    const sessionId = newSessionId();
    const first = await createSandbox({}, sessionId);
    const second = await createSandbox({}, sessionId);
    expect(second.id).not.toBe(first.id);
    expect(await inspectOrNull(first.id)).toBeNull();
    await expect(within(first.exited, 10_000, 'exited of the replaced sandbox')).resolves.toMatchObject({ reason: 'removed' });
    await second.destroy();
  });

  it('fails ping with an actionable message when Docker is unreachable', async () => {
    const unreachable = new DockerRuntime({
      docker: new Dockerode({ socketPath: '/nonexistent.sock' }),
      image,
      baseImage: TEST_BASE_IMAGE,
      contextDir: SANDBOX_CONTEXT_DIR,
    });
    const error = await unreachable.ping().then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(Error);
    expect(error?.message).toMatch(/Docker is unreachable/);
    expect(error?.message).toContain('/nonexistent.sock');
    expect(error?.message).toMatch(/Start the Docker daemon/);
    expect(error?.message).toContain('DOCKER_HOST');
    await expect(runtime.ping()).resolves.toBeUndefined();
  });

  it('lists its managed containers and removes them by id', async () => {
    const sandbox = await createSandbox();
    const listed = await runtime.listManaged();
    expect(listed).toContainEqual({ id: sandbox.id, sessionId: sandbox.sessionId, running: true });
    // Scoped to this runtime's instance label: nothing else on the engine shows up.
    for (const entry of listed) {
      const info = await docker.getContainer(entry.id).inspect();
      expect(info.Config.Labels['telecoder.instance']).toBe(instance);
    }

    await runtime.remove(sandbox.id);
    expect(await inspectOrNull(sandbox.id)).toBeNull();
    expect((await runtime.listManaged()).map((entry) => entry.id)).not.toContain(sandbox.id);
    await expect(runtime.remove(sandbox.id)).resolves.toBeUndefined();

    // A stopped container still counts until it is removed.
    const stopped = await createSandbox();
    await docker.getContainer(stopped.id).kill();
    await within(stopped.exited, 10_000, 'exited');
    expect(await runtime.listManaged()).toContainEqual({ id: stopped.id, sessionId: stopped.sessionId, running: false });
    await runtime.remove(stopped.id);
    expect(await inspectOrNull(stopped.id)).toBeNull();
  });

  it('destroy() can be called twice and the container is gone afterwards', async () => {
    const sandbox = await createSandbox();
    await sandbox.destroy();
    await sandbox.destroy();
    expect(await inspectOrNull(sandbox.id)).toBeNull();
    await expect(within(sandbox.exited, 10_000, 'exited')).resolves.toMatchObject({ reason: 'removed', oomKilled: false });
    await expect(sandbox.exec(['true'], { timeoutMs: 5_000 })).rejects.toThrow(SandboxStoppedError);
  });
});

describe('DockerSandbox', () => {
  let sandbox: Sandbox;

  beforeAll(async () => {
    sandbox = await createSandbox();
  });

  afterAll(async () => {
    await sandbox?.destroy();
  });

  it('returns stdout, stderr and the exit code separately', async () => {
    const result = await sandbox.exec(['sh', '-c', 'echo out; echo err >&2; exit 3'], { timeoutMs: 10_000 });
    expect(result).toEqual({ exitCode: 3, stdout: 'out\n', stderr: 'err\n', timedOut: false, truncated: false });
  });

  it('runs argv without a shell, in the given cwd with the given env', async () => {
    const result = await sandbox.exec(['sh', '-c', 'printf "%s|%s|%s" "$1" "$PWD" "$GREETING"', 'sh', '$(not expanded) ;'], {
      timeoutMs: 10_000,
      cwd: '/tmp',
      env: { GREETING: 'hello there' },
    });
    expect(result.stdout).toBe('$(not expanded) ;|/tmp|hello there');
    expect(result.exitCode).toBe(0);
  });

  it('has the tools an agent needs and runs as the sandbox user', async () => {
    const run = async (argv: string[]) => {
      const result = await sandbox.exec(argv, { timeoutMs: 20_000 });
      expect(result.exitCode, `${argv.join(' ')}: ${result.stderr}`).toBe(0);
      return result.stdout.trim();
    };
    expect(await run(['whoami'])).toBe('sandbox');
    expect(await run(['id', '-u'])).toBe('1000');
    expect(await run(['sh', '-c', 'echo $HOME'])).toBe('/home/sandbox');
    expect(await run(['git', '--version'])).toMatch(/^git version \d/);
    expect(await run(['node', '--version'])).toMatch(/^v\d+\./);
    expect(await run(['npm', '--version'])).toMatch(/^\d+\./);
    expect(await run(['python3', '--version'])).toMatch(/^Python 3\./);
    expect(await run(['python3', '-m', 'venv', '--help'])).toMatch(/usage/);
    expect(await run(['rg', '--version'])).toMatch(/^ripgrep \d/);
    expect(await run(['git', 'config', 'user.email'])).toBe('telecoder@users.noreply.github.com');
    expect(await run(['git', 'config', 'user.name'])).toBe('TeleCoder');
    expect(await run(['git', 'config', '--get-all', 'safe.directory'])).toBe('*');
  });

  it('comes back timed out when a command never ends, and kills it', async () => {
    const started = Date.now();
    const result = await sandbox.exec(['sleep', '1000'], { timeoutMs: 1_500 });
    const elapsed = Date.now() - started;
    expect(result.timedOut).toBe(true);
    expect([124, 137]).toContain(result.exitCode);
    expect(elapsed).toBeLessThan(1_500 + 5_000 + 2_000);
    const ps = await sandbox.exec(['ps', '-eo', 'args'], { timeoutMs: 10_000 });
    expect(ps.stdout).not.toContain('sleep 1000');
  });

  it('kills background children of a timed-out command too', async () => {
    const result = await sandbox.exec(['sh', '-c', 'sleep 997 & sleep 998'], { timeoutMs: 1_000 });
    expect(result.timedOut).toBe(true);
    const ps = await sandbox.exec(['ps', '-eo', 'args'], { timeoutMs: 10_000 });
    expect(ps.stdout).not.toMatch(/sleep 99[78]/);
  });

  it('kills what a timed-out command left behind outside its process group', async () => {
    // setsid escapes the timeout wrapper's process group.
    const started = Date.now();
    const result = await sandbox.exec(['sh', '-c', 'setsid sleep 995 & sleep 994'], { timeoutMs: 1_000 });
    expect(result.timedOut).toBe(true);
    expect([124, 137]).toContain(result.exitCode);
    expect(Date.now() - started).toBeLessThan(1_000 + 5_000 + 2_000);
    let ps = '';
    for (let attempt = 0; attempt < 30; attempt += 1) {
      ps = (await sandbox.exec(['ps', '-eo', 'args'], { timeoutMs: 10_000 })).stdout;
      if (!ps.includes('sleep 995')) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(ps).not.toContain('sleep 995');
  });

  it('does not mistake a quick SIGKILL for a timeout', async () => {
    const result = await sandbox.exec(['sh', '-c', 'kill -KILL $$'], { timeoutMs: 30_000 });
    expect(result.exitCode).toBe(137);
    expect(result.timedOut).toBe(false);
  });

  it('keeps at most maxOutputBytes per stream and says it truncated', async () => {
    const result = await sandbox.exec(['sh', '-c', 'head -c 200000 /dev/zero | tr "\\0" a; echo short >&2'], {
      timeoutMs: 20_000,
      maxOutputBytes: 1_000,
    });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe('a'.repeat(1_000));
    expect(result.stderr).toBe('short\n');
    expect(result.truncated).toBe(true);

    const small = await sandbox.exec(['echo', 'fits'], { timeoutMs: 10_000, maxOutputBytes: 1_000 });
    expect(small).toMatchObject({ stdout: 'fits\n', truncated: false });
  });

  it('aborts a running command on signal and kills it', async () => {
    const controller = new AbortController();
    const pending = sandbox.exec(['sleep', '996'], { timeoutMs: 60_000, signal: controller.signal });
    setTimeout(() => controller.abort(), 500);
    await expect(within(pending, 5_000, 'aborted exec')).rejects.toMatchObject({ name: 'AbortError' });
    // The kill runs in the background: give it a moment.
    let ps = '';
    for (let attempt = 0; attempt < 30; attempt += 1) {
      ps = (await sandbox.exec(['ps', '-eo', 'args'], { timeoutMs: 10_000 })).stdout;
      if (!ps.includes('sleep 996')) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(ps).not.toContain('sleep 996');
    await expect(sandbox.exec(['true'], { timeoutMs: 5_000, signal: AbortSignal.abort() })).rejects.toMatchObject({
      name: 'AbortError',
    });
  });

  it('writes a file owned by the sandbox user, creating parent directories', async () => {
    await sandbox.writeFile('/workspace/deep/er/notes.txt', 'hello\nworld\n');
    const cat = await sandbox.exec(['cat', '/workspace/deep/er/notes.txt'], { timeoutMs: 10_000 });
    expect(cat.stdout).toBe('hello\nworld\n');
    const stat = await sandbox.exec(['stat', '-c', '%n %u:%g %a', '/workspace/deep', '/workspace/deep/er', '/workspace/deep/er/notes.txt'], {
      timeoutMs: 10_000,
    });
    expect(stat.stdout.trim().split('\n')).toEqual([
      expect.stringMatching(/^\/workspace\/deep 1000:1000 \d+$/),
      expect.stringMatching(/^\/workspace\/deep\/er 1000:1000 \d+$/),
      '/workspace/deep/er/notes.txt 1000:1000 644',
    ]);
  });

  it('keeps the mode of a file it overwrites and writes binary content exactly', async () => {
    await sandbox.writeFile('/workspace/run.sh', '#!/bin/sh\necho one\n');
    await sandbox.exec(['chmod', '755', '/workspace/run.sh'], { timeoutMs: 10_000 });
    await sandbox.writeFile('/workspace/run.sh', '#!/bin/sh\necho two\n');
    const run = await sandbox.exec(['/workspace/run.sh'], { timeoutMs: 10_000 });
    expect(run.stdout).toBe('two\n');
    const mode = await sandbox.exec(['stat', '-c', '%a', '/workspace/run.sh'], { timeoutMs: 10_000 });
    expect(mode.stdout.trim()).toBe('755');

    const bytes = Buffer.from([0, 1, 2, 255, 254, 10, 13]);
    await sandbox.writeFile('/workspace/blob.bin', bytes);
    const hex = await sandbox.exec(['od', '-An', '-tx1', '/workspace/blob.bin'], { timeoutMs: 10_000 });
    expect(hex.stdout.trim().split(/\s+/)).toEqual(['00', '01', '02', 'ff', 'fe', '0a', '0d']);

    await expect(sandbox.writeFile('relative/path.txt', 'x')).rejects.toThrow(/absolute path/);
  });

  it('extracts a tar archive with putArchive', async () => {
    const { pack } = await import('tar-stream');
    const archive = pack();
    archive.entry({ name: 'from-tar/readme.md', uid: 1000, gid: 1000, mode: 0o644 }, '# hi\n');
    archive.finalize();
    await sandbox.putArchive('/workspace', archive as unknown as import('node:stream').Readable);
    const cat = await sandbox.exec(['cat', 'from-tar/readme.md'], { timeoutMs: 10_000 });
    expect(cat.stdout).toBe('# hi\n');
  });
});

describe('DockerSandbox limits', () => {
  it('caps the number of processes and survives a fork storm', async () => {
    const sandbox = await createSandbox({ pids: 64 });
    try {
      const storm = await sandbox.exec(
        ['sh', '-c', 'i=0; while [ $i -lt 600 ]; do sleep 5 & i=$((i+1)); done; echo started $i'],
        { timeoutMs: 30_000 },
      );
      expect(storm.stdout).not.toContain('started 600');
      expect(storm.exitCode).not.toBe(0);
      expect(storm.stderr).toMatch(/fork|resource temporarily unavailable/i);

      let alive = '';
      for (let attempt = 0; attempt < 40 && alive !== 'alive'; attempt += 1) {
        alive = await sandbox
          .exec(['echo', 'alive'], { timeoutMs: 5_000 })
          .then((result) => result.stdout.trim())
          .catch(() => '');
        if (alive !== 'alive') await new Promise((resolve) => setTimeout(resolve, 250));
      }
      expect(alive).toBe('alive');
      expect((await docker.getContainer(sandbox.id).inspect()).State.Running).toBe(true);
    } finally {
      await sandbox.destroy();
    }
  });

  it('stops the sandbox with reason oom when memory runs out', async () => {
    const sandbox = await createSandbox({ memoryBytes: 64 * MiB });
    try {
      const exec = sandbox.exec(['python3', '-c', 'a = bytearray(512*1024*1024)'], { timeoutMs: 30_000 });
      await expect(within(exec, 20_000, 'exec')).rejects.toThrow(/out of memory/);
      const exit = await within(sandbox.exited, 20_000, 'exited');
      expect(exit).toMatchObject({ reason: 'oom', oomKilled: true });
      expect((await docker.getContainer(sandbox.id).inspect()).State.OOMKilled).toBe(true);
    } finally {
      await sandbox.destroy();
    }
  });

  it('stops the sandbox at the wall-clock limit', async () => {
    const sandbox = await createSandbox({ wallClockMs: 2_000 });
    try {
      const started = Date.now();
      const exit = await within(sandbox.exited, 15_000, 'exited');
      expect(exit.reason).toBe('wall-clock');
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_500);
      expect((await docker.getContainer(sandbox.id).inspect()).State.Running).toBe(false);
      await expect(sandbox.exec(['true'], { timeoutMs: 5_000 })).rejects.toThrow(/wall-clock/);
    } finally {
      await sandbox.destroy();
    }
  });

  it('rejects an exec in a sandbox killed from outside promptly, with the reason', async () => {
    const sandbox = await createSandbox();
    try {
      const running = sandbox.exec(['sleep', '300'], { timeoutMs: 60_000 });
      await new Promise((resolve) => setTimeout(resolve, 500));
      await docker.getContainer(sandbox.id).kill();
      await expect(within(running, 10_000, 'exec during kill')).rejects.toThrow(/has stopped \(it was killed\)/);
      await expect(within(sandbox.exec(['true'], { timeoutMs: 5_000 }), 10_000, 'exec after kill')).rejects.toThrow(
        SandboxStoppedError,
      );
      expect(await within(sandbox.exited, 10_000, 'exited')).toMatchObject({ reason: 'killed', exitCode: 137 });
    } finally {
      await sandbox.destroy();
    }
  });
});

describe('DockerSandbox when Docker never ends the output stream', () => {
  // Docker closes an exec's stream when its process ends, so a hang needs a stand-in engine.
  it('gives up timeout + 5 s later with timedOut and exit code 124', async () => {
    const stream = new PassThrough();
    const execs: string[][] = [];
    const container = {
      id: 'stand-in',
      exec: async (options: { Cmd: string[] }) => {
        execs.push(options.Cmd);
        return { start: async () => stream, inspect: async () => ({ Running: true, ExitCode: null }) };
      },
    };
    const standIn = { modem: { demuxStream: (s: PassThrough, out: Writable) => s.pipe(out) } };
    const sandbox = new DockerSandbox({
      docker: standIn as unknown as Dockerode,
      container: container as unknown as Dockerode.Container,
      sessionId: 'stand-in',
      wallClockMs: 60_000,
    });
    stream.write('partial output');
    const started = Date.now();
    const result = await within(sandbox.exec(['hang'], { timeoutMs: 1_000 }), 10_000, 'exec with a hung stream');
    expect(Date.now() - started).toBeGreaterThanOrEqual(5_900);
    expect(result).toEqual({ exitCode: 124, timedOut: true, stdout: 'partial output', stderr: '', truncated: false });
    expect(stream.destroyed).toBe(true);
    expect(execs[0]).toEqual(['timeout', '-s', 'KILL', '1s', 'hang']);
    // ...and it went back to kill the command's processes.
    expect(execs[1]?.slice(0, 6)).toEqual(['timeout', '-s', 'KILL', '10s', 'sh', '-c']);
  });
});

describe('DockerRuntime.ensureImage', () => {
  async function contextWith(dockerfile: string): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'telecoder-image-'));
    tempDirs.push(dir);
    await writeFile(join(dir, 'Dockerfile'), dockerfile);
    return dir;
  }

  it('shares one build between concurrent callers and streams its output', async () => {
    const name = `telecoder-test-tiny:${randomUUID().slice(0, 8)}`;
    tempImages.push(name);
    const contextDir = await contextWith(`ARG BASE_IMAGE\nFROM \${BASE_IMAGE}\nLABEL telecoder.test=${name.split(':')[1]}\n`);
    const tiny = new DockerRuntime({ image: name, baseImage: TEST_BASE_IMAGE, contextDir });
    const first: string[] = [];
    const second: string[] = [];
    await Promise.all([tiny.ensureImage((line) => first.push(line)), tiny.ensureImage((line) => second.push(line))]);
    const built = [...first, ...second].filter((line) => line.startsWith('Successfully built'));
    expect(built).toHaveLength(1);
    expect(first.some((line) => line.includes('FROM'))).toBe(true);
    const info = await docker.getImage(name).inspect();
    expect(info.Config.Labels?.['telecoder.test']).toBe(name.split(':')[1]);

    // Present now: no build, no output.
    const third: string[] = [];
    await tiny.ensureImage((line) => third.push(line));
    expect(third).toEqual([]);
  });

  it("rejects with the build's own error text", async () => {
    const name = `telecoder-test-broken:${randomUUID().slice(0, 8)}`;
    tempImages.push(name);
    const contextDir = await contextWith('ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo building-now && exit 7\n');
    const broken = new DockerRuntime({ image: name, baseImage: TEST_BASE_IMAGE, contextDir });
    const lines: string[] = [];
    await expect(broken.ensureImage((line) => lines.push(line))).rejects.toThrow(/returned a non-zero code: 7/);
    expect(lines).toContain('building-now');
  });
});
