import { randomUUID } from 'node:crypto';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerRuntime } from '../../src/sandbox/docker/docker-runtime.js';
import { DockerSandbox, SANDBOX_USER, SandboxStoppedError } from '../../src/sandbox/docker/docker-sandbox.js';
import { EXECUTOR_MARKER } from '../../src/sandbox/docker/executor-script.js';
import { ExecutorUnavailableError, SandboxExecutor, SandboxExecutorStoppedError } from '../../src/sandbox/docker/sandbox-executor.js';
import type { Sandbox, SandboxLimits } from '../../src/sandbox/runtime.js';
import { SANDBOX_CONTEXT_DIR, TEST_BASE_IMAGE, ensureTestImage } from '../helpers/sandbox-image.js';
import { within } from '../helpers/within.js';

// The resident executor (sandbox-executor.ts): every exec and file write of a sandbox runs over
// one long-lived process inside it, with the same walls as one `docker exec` per call had.

const docker = new Dockerode();
const instance = `executor-test-${randomUUID().slice(0, 8)}`;
const MiB = 1024 * 1024;
const limits: SandboxLimits = { memoryBytes: 256 * MiB, cpus: 1, pids: 128, wallClockMs: 300_000 };

let runtime: DockerRuntime;
let shared: Sandbox;

async function newSandbox(): Promise<Sandbox> {
  return runtime.create({ sessionId: `ex-${randomUUID().slice(0, 12)}`, network: 'none', limits });
}

/** The sandbox's processes as "user args" lines, read with a docker exec of its own (not through the executor). */
async function processes(sandbox: Sandbox): Promise<string[]> {
  const exec = await docker.getContainer(sandbox.id).exec({ Cmd: ['ps', '-eo', 'user:12,args'], AttachStdout: true, AttachStderr: true, User: SANDBOX_USER });
  const stream = await exec.start({ hijack: false, stdin: false });
  const chunks: Buffer[] = [];
  const out = new (await import('node:stream')).Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      callback();
    },
  });
  docker.modem.demuxStream(stream, out, out);
  await new Promise((resolve) => stream.on('end', resolve));
  return Buffer.concat(chunks).toString('utf8').split('\n').slice(1).filter(Boolean);
}

/** Runs `script` in the sandbox as its user with a docker exec of its own, and waits for it. */
async function dockerExec(sandbox: Sandbox, script: string): Promise<void> {
  const exec = await docker.getContainer(sandbox.id).exec({ Cmd: ['sh', '-c', script], AttachStdout: true, AttachStderr: true, User: SANDBOX_USER });
  const stream = await exec.start({ hijack: false, stdin: false });
  stream.resume();
  await new Promise((resolve) => stream.on('end', resolve));
}

/** How many `docker exec`s Docker started in the sandbox between two times (seconds since the epoch). */
async function execStarts(sandbox: Sandbox, since: number, until: number): Promise<number> {
  const stream = await docker.getEvents({ since, until, filters: { container: [sandbox.id], event: ['exec_start'] } });
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  // The executor's own start (in the same second, maybe) is not a call.
  const lines = Buffer.concat(chunks).toString('utf8').split('\n');
  return lines.filter((line) => line.includes('exec_start') && !line.includes(EXECUTOR_MARKER)).length;
}

async function waitFor(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

beforeAll(async () => {
  const image = await ensureTestImage();
  runtime = new DockerRuntime({ image, baseImage: TEST_BASE_IMAGE, contextDir: SANDBOX_CONTEXT_DIR, instanceLabel: instance });
  shared = await newSandbox();
}, 600_000);

afterAll(async () => {
  const leftovers = await docker.listContainers({ all: true, filters: { label: [`telecoder.instance=${instance}`] } });
  await Promise.all(leftovers.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
});

describe('the resident executor', () => {
  it('runs as the sandbox user, one per sandbox, and calls make no docker exec of their own', async () => {
    await shared.exec(['true'], { timeoutMs: 10_000 });
    const since = Math.floor(Date.now() / 1000);
    for (let i = 0; i < 10; i += 1) await shared.exec(['echo', String(i)], { timeoutMs: 10_000 });
    await shared.writeFile('/workspace/counted.txt', 'x');
    // Events are stamped in whole seconds: wait for the second to close, then count.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(await execStarts(shared, since - 1, Math.floor(Date.now() / 1000))).toBe(0);
    const executors = (await processes(shared)).filter((line) => line.includes(EXECUTOR_MARKER));
    expect(executors).toHaveLength(1);
    expect(executors[0]!.split(/\s+/)[0]).toBe('sandbox');
  });

  it('returns exit codes like a shell: 0, 3, 128 + n for a signal, 127 for a missing command', async () => {
    expect(await shared.exec(['sh', '-c', 'echo out; echo err >&2; exit 0'], { timeoutMs: 10_000 })).toEqual({
      exitCode: 0,
      stdout: 'out\n',
      stderr: 'err\n',
      timedOut: false,
      truncated: false,
    });
    expect((await shared.exec(['sh', '-c', 'exit 3'], { timeoutMs: 10_000 })).exitCode).toBe(3);
    expect(await shared.exec(['sh', '-c', 'kill -TERM $$'], { timeoutMs: 10_000 })).toMatchObject({ exitCode: 143, timedOut: false });
    expect(await shared.exec(['sh', '-c', 'kill -KILL $$'], { timeoutMs: 30_000 })).toMatchObject({ exitCode: 137, timedOut: false });
    const missing = await shared.exec(['no-such-command-here'], { timeoutMs: 10_000 });
    expect(missing.exitCode).toBe(127);
    expect(missing.stderr).toContain('no-such-command-here');
  });

  it('passes cwd, env and the default env, and keeps the container environment', async () => {
    shared.setDefaultEnv({ FROM_DEFAULT: 'default' });
    const result = await shared.exec(['sh', '-c', 'printf "%s|%s|%s|%s" "$PWD" "$FROM_DEFAULT" "$GREETING" "$HOME"'], {
      timeoutMs: 10_000,
      cwd: '/tmp',
      env: { GREETING: 'hi' },
    });
    expect(result.stdout).toBe('/tmp|default|hi|/home/sandbox');
  });

  it('kills a timed-out command with its whole process group and what escaped it, and says timed out', async () => {
    const result = await shared.exec(['sh', '-c', 'sleep 101 & setsid sleep 102 & sleep 103'], { timeoutMs: 1_000 });
    expect(result).toMatchObject({ exitCode: 124, timedOut: true });
    await waitFor('the timed-out processes to be gone', async () => !(await processes(shared)).some((line) => /sleep 10[123]/.test(line)));
  });

  it('keeps at most maxOutputBytes per stream, counts the rest and says it truncated', async () => {
    const result = await shared.exec(['sh', '-c', 'head -c 300000 /dev/zero | tr "\\0" a; echo short >&2'], {
      timeoutMs: 10_000,
      maxOutputBytes: 1_000,
    });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe('a'.repeat(1_000));
    expect(result.stderr).toBe('short\n');
    expect(result.truncated).toBe(true);
    expect((await shared.exec(['echo', 'fits'], { timeoutMs: 10_000, maxOutputBytes: 5 })).truncated).toBe(false);
  });

  it('writes files as the sandbox user and refuses symbolic links in the path', async () => {
    await shared.writeFile('/workspace/w/new/file.txt', 'hello');
    const stat = await shared.exec(['stat', '-c', '%u %a', '/workspace/w/new/file.txt'], { timeoutMs: 10_000 });
    expect(stat.stdout.trim()).toBe('1000 644');
    await shared.exec(['sh', '-c', 'chmod 700 /workspace/w/new/file.txt && ln -s /etc /workspace/w/link'], { timeoutMs: 10_000 });
    await shared.writeFile('/workspace/w/new/file.txt', 'again');
    expect((await shared.exec(['stat', '-c', '%a', '/workspace/w/new/file.txt'], { timeoutMs: 10_000 })).stdout.trim()).toBe('700');
    await expect(shared.writeFile('/workspace/w/link/x', 'no')).rejects.toThrow(/\/workspace\/w\/link is a symbolic link \(to \/etc\)/);
    await expect(shared.writeFile('/workspace/w/link', 'no')).rejects.toThrow(/symbolic link/);
  });

  it('runs concurrent calls side by side, each with its own output', async () => {
    const results = await Promise.all(
      Array.from({ length: 16 }, (_, i) => shared.exec(['sh', '-c', `sleep 0.3; echo call-${i}; echo err-${i} >&2; exit ${i % 4}`], { timeoutMs: 10_000 })),
    );
    results.forEach((result, i) => expect(result).toEqual({ exitCode: i % 4, stdout: `call-${i}\n`, stderr: `err-${i}\n`, timedOut: false, truncated: false }));
    await Promise.all(Array.from({ length: 8 }, (_, i) => shared.writeFile(`/workspace/par/${i}.txt`, `file ${i}`)));
    expect((await shared.exec(['sh', '-c', 'cat /workspace/par/*.txt'], { timeoutMs: 10_000 })).stdout).toBe(
      Array.from({ length: 8 }, (_, i) => `file ${i}`).join(''),
    );
  });

  it('fails the call in flight and every later call when the executor is killed from inside', async () => {
    const sandbox = await newSandbox();
    try {
      await sandbox.exec(['true'], { timeoutMs: 10_000 });
      const running = sandbox.exec(['sleep', '60'], { timeoutMs: 60_000 });
      await new Promise((resolve) => setTimeout(resolve, 300));
      await dockerExec(sandbox, `pkill -KILL -f ${EXECUTOR_MARKER}`);
      const error = await within(running, 10_000, 'the call in flight').then(
        () => undefined,
        (failure: unknown) => failure,
      );
      expect(error).toBeInstanceOf(SandboxExecutorStoppedError);
      expect((error as Error).message).toMatch(/the sandbox's command executor stopped: killed by signal 9/i);
      await expect(sandbox.exec(['true'], { timeoutMs: 5_000 })).rejects.toThrow(SandboxExecutorStoppedError);
      await expect(sandbox.writeFile('/workspace/x', 'x')).rejects.toThrow(SandboxExecutorStoppedError);
      // No silent fallback: the sandbox itself still runs, but nothing more runs in it.
      expect((await docker.getContainer(sandbox.id).inspect()).State.Running).toBe(true);
    } finally {
      await sandbox.destroy();
    }
  });

  it('fails the call that kills the executor itself (an agent running pkill node)', async () => {
    const sandbox = await newSandbox();
    try {
      await expect(sandbox.exec(['pkill', '-KILL', '-f', EXECUTOR_MARKER], { timeoutMs: 10_000 })).rejects.toThrow(
        /the sandbox's command executor stopped/i,
      );
    } finally {
      await sandbox.destroy();
    }
  });

  it('gives up on an executor that does not answer (stopped from inside) and kills the command without it', async () => {
    const sandbox = await newSandbox();
    try {
      await sandbox.exec(['true'], { timeoutMs: 10_000 });
      const running = sandbox.exec(['sleep', '299'], { timeoutMs: 1_000 });
      // The pattern does not match the shell running pkill itself, which would stop with it.
      await dockerExec(sandbox, `pkill -STOP -f '${EXECUTOR_MARKER.slice(0, -1)}[${EXECUTOR_MARKER.slice(-1)}]'`);
      // The server's own deadline: the command's timeout plus the executor's 2 s plus 5 s of grace.
      const result = await within(running, 20_000, 'the call on a stopped executor');
      expect(result).toMatchObject({ exitCode: 124, timedOut: true });
      await waitFor('sleep 299 to be killed', async () => !(await processes(sandbox)).some((line) => line.includes('sleep 299')));
    } finally {
      await sandbox.destroy();
    }
  }, 30_000);

  it('reports the sandbox stop, not the executor, when the sandbox is killed under a call', async () => {
    const sandbox = await newSandbox();
    try {
      const running = sandbox.exec(['sleep', '300'], { timeoutMs: 60_000 });
      await new Promise((resolve) => setTimeout(resolve, 500));
      await docker.getContainer(sandbox.id).kill();
      await expect(within(running, 10_000, 'exec during kill')).rejects.toThrow(SandboxStoppedError);
    } finally {
      await sandbox.destroy();
    }
  });
});

describe('starting the executor', () => {
  it('refuses an executor that speaks another protocol version', async () => {
    // A stand-in "node" that says hello in version 99 and waits.
    await shared.writeFile('/tmp/fake-node', "#!/bin/sh\nprintf '\\001\\000\\000\\000\\000\\000\\000\\000\\001\\143'\nexec sleep 30\n");
    await shared.exec(['chmod', '755', '/tmp/fake-node'], { timeoutMs: 10_000 });
    const start = SandboxExecutor.start({
      docker,
      container: docker.getContainer(shared.id),
      user: SANDBOX_USER,
      node: '/tmp/fake-node',
      explainEnd: async (detail) => new Error(detail),
    });
    await expect(within(start, 10_000, 'start')).rejects.toThrow(/speaks protocol version 99, this server 1/);
  });

  it('without an executor (an image without node) runs each call as one docker exec, under the same rules', async () => {
    const plain = new DockerSandbox({ docker, container: docker.getContainer(shared.id), sessionId: 'plain', wallClockMs: 60_000 });
    const since = Math.floor(Date.now() / 1000);
    const script = 'ln -sfn /etc /workspace/plain-link; echo plain; exit 3';
    expect(await plain.exec(['sh', '-c', script], { timeoutMs: 10_000 })).toMatchObject({ exitCode: 3, stdout: 'plain\n' });
    await plain.writeFile('/workspace/plain/file.txt', 'by python');
    await expect(plain.writeFile('/workspace/plain-link/x', 'no')).rejects.toThrow(/\/workspace\/plain-link is a symbolic link \(to \/etc\)/);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(await execStarts(shared, since, Math.floor(Date.now() / 1000))).toBe(3);
    expect((await shared.exec(['cat', '/workspace/plain/file.txt'], { timeoutMs: 10_000 })).stdout).toBe('by python');
  });

  it('tells an image without node apart (the sandbox then runs one docker exec per call)', async () => {
    const start = SandboxExecutor.start({
      docker,
      container: docker.getContainer(shared.id),
      user: SANDBOX_USER,
      node: 'no-node-here',
      explainEnd: async (detail) => new Error(detail),
    });
    await expect(within(start, 10_000, 'start')).rejects.toThrow(ExecutorUnavailableError);
  });
});
