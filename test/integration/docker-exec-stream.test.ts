import { createHash, randomUUID } from 'node:crypto';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerRuntime } from '../../src/sandbox/docker/docker-runtime.js';
import type { Sandbox } from '../../src/sandbox/runtime.js';
import { SANDBOX_CONTEXT_DIR, TEST_BASE_IMAGE, ensureTestImage } from '../helpers/sandbox-image.js';

const docker = new Dockerode();
const instance = `exec-stream-test-${randomUUID().slice(0, 8)}`;
const MiB = 1024 * 1024;

let sandbox: Sandbox;

beforeAll(async () => {
  const image = await ensureTestImage();
  const runtime = new DockerRuntime({ image, baseImage: TEST_BASE_IMAGE, contextDir: SANDBOX_CONTEXT_DIR, instanceLabel: instance });
  sandbox = await runtime.create({
    sessionId: `xs-${randomUUID().slice(0, 12)}`,
    network: 'none',
    limits: { memoryBytes: 512 * MiB, cpus: 1, pids: 128, wallClockMs: 300_000 },
  });
}, 900_000);

afterAll(async () => {
  const leftovers = await docker.listContainers({ all: true, filters: { label: [`telecoder.instance=${instance}`] } });
  await Promise.all(leftovers.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
});

function pattern(bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  for (let index = 0; index < bytes; index++) out[index] = index % 256;
  return out;
}
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

describe('DockerSandbox.execStream', () => {
  it('hands stdout over byte for byte (any bytes, not just UTF-8), with the exit code and stderr', async () => {
    const run = await sandbox.execStream(
      ['python3', '-c', 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 81920); sys.stderr.write("wrote it"); sys.exit(3)'],
      { timeoutMs: 60_000 },
    );
    const chunks: Buffer[] = [];
    for await (const chunk of run.stdout) chunks.push(chunk as Buffer);
    const out = Buffer.concat(chunks);
    expect(out.length).toBe(20 * MiB);
    expect(sha256(out)).toBe(sha256(pattern(20 * MiB)));
    expect(await run.result).toEqual({ exitCode: 3, stderr: 'wrote it', timedOut: false });
  });

  it('a reader that does not read holds the command back: the server does not buffer its output', async () => {
    const before = process.memoryUsage().rss;
    const run = await sandbox.execStream(['head', '-c', '300M', '/dev/zero'], { timeoutMs: 120_000 });
    // Nobody reads for a while; without backpressure the 300 MB would pile up in this process.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const whilePaused = process.memoryUsage().rss - before;
    let total = 0;
    for await (const chunk of run.stdout) total += (chunk as Buffer).length;
    expect(total).toBe(300 * MiB);
    expect(whilePaused).toBeLessThan(64 * MiB);
    expect((await run.result).exitCode).toBe(0);
  }, 120_000);

  it('a reader that gives up kills the command', async () => {
    const run = await sandbox.execStream(['sh', '-c', 'echo $$ > /tmp/streamer.pid; exec yes'], { timeoutMs: 120_000 });
    let read = 0;
    for await (const chunk of run.stdout) {
      read += (chunk as Buffer).length;
      if (read > MiB) break;
    }
    const result = await run.result;
    expect(result.exitCode).toBe(137);
    // The kill runs in the sandbox in the background: give it a moment.
    let alive = '';
    for (let attempt = 0; attempt < 50; attempt++) {
      alive = (await sandbox.exec(['sh', '-c', 'kill -0 "$(cat /tmp/streamer.pid)" 2>/dev/null && echo alive || echo gone'], { timeoutMs: 10_000 })).stdout.trim();
      if (alive === 'gone') break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(alive).toBe('gone');
  });

  it('a command past its timeout is killed and reported as timed out', async () => {
    const run = await sandbox.execStream(['sh', '-c', 'echo started; sleep 60'], { timeoutMs: 1_000 });
    const chunks: Buffer[] = [];
    for await (const chunk of run.stdout) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('started\n');
    const result = await run.result;
    expect(result.timedOut).toBe(true);
  });
});
