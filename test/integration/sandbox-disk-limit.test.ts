import { randomUUID } from 'node:crypto';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diskUsageMeter } from '../../src/sandbox/docker/disk-usage.js';
import { DockerRuntime } from '../../src/sandbox/docker/docker-runtime.js';
import { SandboxStoppedError } from '../../src/sandbox/docker/docker-sandbox.js';
import { isStorageQuotaUnsupported } from '../../src/sandbox/docker/storage-quota.js';
import type { Sandbox, SandboxLimits } from '../../src/sandbox/runtime.js';
import { SANDBOX_CONTEXT_DIR, TEST_BASE_IMAGE, ensureTestImage } from '../helpers/sandbox-image.js';
import { within } from '../helpers/within.js';

// TELECODER_SANDBOX_DISK on an engine whose storage driver has no per-container quota (this
// machine: overlay2 on ext4), where a watchdog measuring what the sandbox wrote enforces it.

const docker = new Dockerode();
const instance = `disk-limit-test-${randomUUID().slice(0, 8)}`;
const MiB = 1024 * 1024;
const limits: SandboxLimits = { memoryBytes: 256 * MiB, cpus: 1, pids: 128, wallClockMs: 180_000, diskBytes: 50 * MiB };

let image: string;
let runtime: DockerRuntime;
const cacheRepos: string[] = [];

function newSessionId(): string {
  return `disk-${randomUUID().slice(0, 12)}`;
}

async function run(sandbox: Sandbox, script: string): Promise<string> {
  const result = await sandbox.exec(['sh', '-c', script], { timeoutMs: 30_000 });
  expect(result.exitCode, `${script}: ${result.stderr}`).toBe(0);
  return result.stdout;
}

/** Runs a command that fills the disk; the sandbox may die under it (that is the point). */
async function fill(sandbox: Sandbox, script: string): Promise<void> {
  await sandbox.exec(['sh', '-c', script], { timeoutMs: 60_000 }).catch((error: unknown) => {
    expect(error).toBeInstanceOf(SandboxStoppedError);
  });
}

beforeAll(async () => {
  image = await ensureTestImage();
  runtime = new DockerRuntime({ image, baseImage: TEST_BASE_IMAGE, contextDir: SANDBOX_CONTEXT_DIR, instanceLabel: instance, diskPollMs: 500 });
}, 600_000);

afterAll(async () => {
  for (const repo of cacheRepos) await runtime.removeCache(repo).catch(() => undefined);
  const leftovers = await docker.listContainers({ all: true, filters: { label: [`telecoder.instance=${instance}`] } });
  await Promise.all(leftovers.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
});

describe('the sandbox disk limit', () => {
  it('kills a sandbox that writes past it (fallocate in the workspace) while a neighbour writing under it runs on', async () => {
    const [filler, neighbour] = await Promise.all([
      runtime.create({ sessionId: newSessionId(), network: 'none', limits }),
      runtime.create({ sessionId: newSessionId(), network: 'none', limits }),
    ]);
    try {
      // The neighbour is busy through the whole episode: a command that outlives the kill.
      const busy = neighbour.exec(['sh', '-c', 'for i in $(seq 1 50); do sleep 0.2; echo $i >> /tmp/beat; done; wc -l < /tmp/beat'], {
        timeoutMs: 60_000,
      });
      let busyEnded = false;
      void busy.finally(() => (busyEnded = true));
      await run(neighbour, 'fallocate -l 20M /workspace/under-the-limit');

      await fill(filler, 'fallocate -l 200M /workspace/big && sleep 30');
      const exit = await within(filler.exited, 15_000, 'the filler to be killed');
      expect(exit.reason).toBe('disk');
      expect(busyEnded, "the neighbour's command was still running when the filler died").toBe(false);
      expect((await docker.getContainer(filler.id).inspect()).State.Running).toBe(false);
      await expect(filler.exec(['true'], { timeoutMs: 5_000 })).rejects.toThrow(/disk limit/);
      await expect(filler.writeFile('/workspace/after.txt', 'x')).rejects.toThrow(/disk limit/);

      expect((await busy).stdout.trim()).toBe('50');
      expect(await run(neighbour, 'stat -c %s /workspace/under-the-limit; echo alive')).toBe(`${20 * MiB}\nalive\n`);
      expect((await docker.getContainer(neighbour.id).inspect()).State.Running).toBe(true);
    } finally {
      await Promise.all([filler.destroy(), neighbour.destroy()]);
    }
  });

  it('counts /tmp and files written bit by bit (dd), and a command in flight ends with the reason', async () => {
    const sandbox = await runtime.create({ sessionId: newSessionId(), network: 'none', limits });
    try {
      const writing = sandbox.exec(['sh', '-c', 'i=0; while true; do i=$((i+1)); dd if=/dev/zero of=/tmp/fill-$i bs=1M count=5 2>/dev/null; sleep 0.1; done'], {
        timeoutMs: 60_000,
      });
      await expect(within(writing, 30_000, 'the writing command')).rejects.toThrow(/disk limit/);
      expect((await within(sandbox.exited, 10_000, 'exited')).reason).toBe('disk');
    } finally {
      await sandbox.destroy();
    }
  });

  it("counts what the sandbox adds to its dependency cache volume, but not what was there before", async () => {
    const repo = `acme/disk-${randomUUID().slice(0, 8)}`;
    cacheRepos.push(repo);
    const big = { ...limits, diskBytes: 1024 * MiB };
    // An earlier session filled the cache with 120 MB (under its own, larger limit).
    const earlier = await runtime.create({ sessionId: newSessionId(), network: 'none', limits: big, cache: { repo } });
    await run(earlier, 'fallocate -l 120M /home/sandbox/.cache/earlier.bin');
    await earlier.destroy();

    const sandbox = await runtime.create({ sessionId: newSessionId(), network: 'none', limits, cache: { repo } });
    try {
      // 120 MB already in the cache is over this sandbox's 50 MB, yet it lives: only growth counts.
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      expect(await run(sandbox, 'du -sm /home/sandbox/.cache | cut -f1')).toMatch(/^12\d\n$/);

      await fill(sandbox, 'fallocate -l 100M /home/sandbox/.cache/junk.bin && sleep 30');
      expect((await within(sandbox.exited, 15_000, 'exited')).reason).toBe('disk');
    } finally {
      await sandbox.destroy();
    }
  });

  it('asks the driver for a hard quota where it has one and falls back to the watchdog where it does not', async () => {
    // What this engine says to `storage-opt size`, straight from Docker.
    let refusal: unknown;
    try {
      const probe = await docker.createContainer({ Image: image, Cmd: ['true'], HostConfig: { StorageOpt: { size: '1G' }, NetworkMode: 'none' } });
      await probe.remove({ force: true });
    } catch (error) {
      refusal = error;
    }
    const sandbox = await runtime.create({ sessionId: newSessionId(), network: 'none', limits });
    try {
      const info = await docker.getContainer(sandbox.id).inspect();
      if (refusal === undefined) {
        expect(info.HostConfig.StorageOpt).toEqual({ size: String(limits.diskBytes) });
      } else {
        expect(isStorageQuotaUnsupported(refusal), String(refusal)).toBe(true);
        expect(info.HostConfig.StorageOpt ?? null).toBeNull();
      }
      expect(info.State.Running).toBe(true);
    } finally {
      await sandbox.destroy();
    }
  });
});

describe('measuring what a sandbox wrote', () => {
  it('reads the same writes both ways: from the host (blocks used) and from the engine (SizeRw)', async () => {
    const sandbox = await runtime.create({ sessionId: newSessionId(), network: 'none', limits: { ...limits, diskBytes: undefined } });
    try {
      const container = docker.getContainer(sandbox.id);
      const host = await diskUsageMeter({ container });
      const engine = await diskUsageMeter({ container, engineOnly: true });
      expect(engine.method).toBe('engine');
      // This test machine runs the server as root beside the engine: the cheap way must be taken.
      expect(host.method).toBe('host');

      const before = await host.measure();
      expect(before).toBeLessThan(5 * MiB);
      await run(sandbox, 'fallocate -l 64M /workspace/a && mkdir -p /tmp/many && cd /tmp/many && seq 1 2000 | xargs touch');
      const started = Date.now();
      const hostBytes = await host.measure();
      const hostMs = Date.now() - started;
      const engineBytes = await engine.measure();
      expect(hostBytes).toBeGreaterThanOrEqual(64 * MiB);
      expect(hostBytes).toBeLessThan(80 * MiB);
      expect(engineBytes).toBeGreaterThanOrEqual(64 * MiB);
      expect(engineBytes).toBeLessThan(80 * MiB);
      // A measurement of a few thousand files is cheap enough to repeat every two seconds.
      expect(hostMs).toBeLessThan(1_000);

      // A sparse file takes no disk: the host's count (blocks) ignores it, the engine's does not.
      await run(sandbox, 'truncate -s 1G /workspace/sparse');
      expect(await host.measure()).toBeLessThan(80 * MiB);
      expect(await engine.measure()).toBeGreaterThan(1024 * MiB);
    } finally {
      await sandbox.destroy();
    }
  });
});
