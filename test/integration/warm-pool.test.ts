import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DockerRuntime } from '../../src/sandbox/docker/docker-runtime.js';
import type { BlockedEgress, Sandbox, SandboxLimits, SandboxSpec, WarmRequest } from '../../src/sandbox/runtime.js';
import { SqliteSandboxClaims } from '../../src/store/sqlite/sqlite-sandbox-claims.js';
import { removeInstanceResources } from '../helpers/docker-leftovers.js';
import { SANDBOX_CONTEXT_DIR, TEST_BASE_IMAGE, ensureTestImage } from '../helpers/sandbox-image.js';
import { waitUntil } from '../helpers/wait-until.js';
import { git, makeRepo } from '../helpers/git-fixtures.js';
import { GitWorkspace } from '../../src/git/git-workspace.js';
import { SANDBOX_GIT_ENV } from '../../src/git/git-walls.js';
import { SANDBOX_CHECKOUT } from '../../src/engine/prepare-workspace.js';
import { pathToFileURL } from 'node:url';
import { buffer } from 'node:stream/consumers';
import { Readable } from 'node:stream';

// The warm pool with real containers: what a session gets from it is the sandbox it would have
// been given cold (walls, limits, cache, network), given to it alone and on its own clock.

const docker = new Dockerode();
const MiB = 1024 * 1024;
const limits: SandboxLimits = { memoryBytes: 512 * MiB, cpus: 1, pids: 128, wallClockMs: 300_000 };
const REPO = 'acme/widgets';

let testImage: string;
const instances: string[] = [];
const runtimes: DockerRuntime[] = [];
const claimStores: SqliteSandboxClaims[] = [];
const dirs: string[] = [];
const images: string[] = [];

/** A runtime on its own image tag (a test may point the tag elsewhere) and its own claims file. */
async function newRuntime(options: { size?: number; egress?: boolean; maxIdleMs?: number } = {}) {
  const instanceLabel = `pool-test-${randomUUID().slice(0, 8)}`;
  instances.push(instanceLabel);
  const image = `telecoder-sandbox:${instanceLabel}`;
  await docker.getImage(testImage).tag({ repo: 'telecoder-sandbox', tag: instanceLabel });
  images.push(image);
  const dir = mkdtempSync(join(tmpdir(), 'telecoder-pool-'));
  dirs.push(dir);
  const claims = SqliteSandboxClaims.open({ file: join(dir, 'telecoder.db') });
  claimStores.push(claims);
  const runtime = new DockerRuntime({
    image,
    baseImage: TEST_BASE_IMAGE,
    contextDir: SANDBOX_CONTEXT_DIR,
    instanceLabel,
    warmSandboxes: options.size ?? 1,
    claims,
    ...(options.maxIdleMs ? { warmMaxIdleMs: options.maxIdleMs } : {}),
    ...(options.egress ? { egress: { policy: 'registries' as const, allow: ['registry.npmjs.org'] } } : {}),
  });
  runtimes.push(runtime);
  return { runtime, claims, image, instanceLabel };
}

const requestFor = (network: 'none' | 'egress' = 'none', overrides: Partial<SandboxLimits> = {}): WarmRequest => ({
  network,
  limits: { ...limits, ...overrides },
  cache: { repo: REPO },
});

const spec = (request: WarmRequest, extra: Partial<SandboxSpec> = {}): SandboxSpec => ({
  sessionId: `pool-${randomUUID().slice(0, 12)}`,
  ...request,
  ...extra,
});

async function warmIds(instanceLabel: string): Promise<string[]> {
  const listed = await docker.listContainers({ filters: { label: [`telecoder.instance=${instanceLabel}`, 'telecoder.warm=true'] } });
  return listed.map((container) => container.Id);
}

/** Fills the pool for `request` and returns the ids of its ready sandboxes. */
async function filled(runtime: DockerRuntime, instanceLabel: string, request: WarmRequest, count = 1): Promise<string[]> {
  runtime.warm([request]);
  await waitUntil(`${count} warm sandbox(es)`, async () => runtime.warmPool.ready().length === count, { timeoutMs: 60_000 });
  await runtime.warmPool.settled();
  return warmIds(instanceLabel);
}

const gone = (id: string) => docker.getContainer(id).inspect().then(() => false, (error: { statusCode?: number }) => error.statusCode === 404);

beforeAll(async () => {
  testImage = await ensureTestImage();
}, 900_000);

afterEach(async () => {
  for (const runtime of runtimes.splice(0)) await runtime.close();
  for (const claims of claimStores.splice(0)) claims.close();
});

afterAll(async () => {
  for (const instance of instances) removeInstanceResources(instance);
  for (const image of images) await docker.getImage(image).remove({ force: true }).catch(() => undefined);
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('the warm pool (real Docker)', () => {
  it("hands a session a ready sandbox with the same walls as a cold one, claimed in the store, on the session's clock", async () => {
    const { runtime, claims, instanceLabel } = await newRuntime({ size: 1 });
    const request = requestFor('none', { wallClockMs: 4_000 });
    const [warmId] = await filled(runtime, instanceLabel, request);
    const waiting = await docker.getContainer(warmId!).inspect();
    expect(waiting.Config.Labels['telecoder.session']).toBe('');
    expect(waiting.Name).toMatch(/^\/telecoder-warm-/);

    // Longer than the wall clock: a warm sandbox's clock has not started while it waits.
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    const started = Date.now();
    const session = spec(request);
    const sandbox = await runtime.create(session);
    expect(sandbox.id).toBe(warmId);
    expect(sandbox.sessionId).toBe(session.sessionId);
    expect(claims.claimant(sandbox.id)).toBe(session.sessionId);
    expect((await runtime.listManaged()).find((managed) => managed.id === sandbox.id)?.sessionId).toBe(session.sessionId);
    await waitUntil('the claimed container to take the session name', async () => (await docker.getContainer(sandbox.id).inspect()).Name === `/telecoder-${session.sessionId}`);

    // The same container a cold session would get: user, capabilities, limits, cache, no network.
    const cold = await runtime.create(spec(requestFor('none', { wallClockMs: 60_000, cpus: 0.5 })));
    const [warmInfo, coldInfo] = await Promise.all([docker.getContainer(sandbox.id).inspect(), docker.getContainer(cold.id).inspect()]);
    for (const info of [warmInfo, coldInfo]) {
      expect(info.Config.User).toBe('1000:1000');
      expect(info.HostConfig.CapDrop).toEqual(['ALL']);
      expect(info.HostConfig.SecurityOpt).toEqual(['no-new-privileges:true']);
      expect(info.HostConfig.Privileged).toBe(false);
      expect(info.HostConfig.NetworkMode).toBe('none');
      expect(info.HostConfig.Binds ?? []).toEqual([]);
      expect(info.HostConfig.Memory).toBe(limits.memoryBytes);
      expect(info.HostConfig.PidsLimit).toBe(limits.pids);
      expect(info.Mounts.map((mount) => mount.Destination)).toEqual(coldInfo.Mounts.map((mount) => mount.Destination));
      expect(info.Mounts.map((mount) => mount.Name)).toEqual(coldInfo.Mounts.map((mount) => mount.Name));
    }
    expect(warmInfo.HostConfig.NanoCpus).toBe(1e9);
    expect((await sandbox.exec(['id', '-u'], { timeoutMs: 10_000 })).stdout.trim()).toBe('1000');

    // The wall clock counts from the claim.
    const exit = await sandbox.exited;
    expect(exit.reason).toBe('wall-clock');
    expect(Date.now() - started).toBeGreaterThan(3_000);
    await cold.destroy();
    // Gone with its sandbox: the claim.
    await waitUntil('the claim to be released', () => claims.claimant(warmId!) === undefined);
  }, 120_000);

  it('gives one ready sandbox to exactly one of several sessions starting at once, and makes another', async () => {
    const { runtime, claims, instanceLabel } = await newRuntime({ size: 1 });
    const request = requestFor();
    const [warmId] = await filled(runtime, instanceLabel, request);
    const sessions = [spec(request), spec(request), spec(request)];
    const sandboxes = await Promise.all(sessions.map((session) => runtime.create(session)));
    const ids = sandboxes.map((sandbox) => sandbox.id);
    expect(new Set(ids).size).toBe(3);
    const taker = sandboxes.filter((sandbox) => sandbox.id === warmId);
    expect(taker).toHaveLength(1);
    expect(claims.claimant(warmId!)).toBe(taker[0]!.sessionId);
    // Each session runs in its own: a file one writes is not in another's.
    await Promise.all(sandboxes.map((sandbox) => sandbox.writeFile('/workspace/owner.txt', sandbox.sessionId)));
    for (const sandbox of sandboxes) {
      expect((await sandbox.exec(['cat', '/workspace/owner.txt'], { timeoutMs: 10_000 })).stdout).toBe(sandbox.sessionId);
    }
    // A replacement, which no session holds.
    await waitUntil('a replacement', () => runtime.warmPool.ready().length === 1, { timeoutMs: 60_000 });
    await runtime.warmPool.settled();
    const [replacement] = await warmIds(instanceLabel);
    expect(ids).not.toContain(replacement);
    expect(claims.claimant(replacement!)).toBeUndefined();
    await Promise.all(sandboxes.map((sandbox) => sandbox.destroy()));
  }, 120_000);

  it('drains the pool when the image changes or a session asks for other limits', async () => {
    const { runtime, image, instanceLabel } = await newRuntime({ size: 1 });
    const request = requestFor();
    const [first] = await filled(runtime, instanceLabel, request);

    // The image is rebuilt under the same name (a new id): the next session starts cold on it.
    const base = await docker.createContainer({ Image: image, Cmd: ['true'], Labels: { [`telecoder.instance`]: instanceLabel } });
    const [repo, tag] = image.split(':');
    await base.commit({ repo, tag, changes: ['LABEL rebuilt=yes'] });
    await base.remove();
    const rebuiltId = (await docker.getImage(image).inspect()).Id;
    const onNewImage = await runtime.create(spec(request));
    expect(onNewImage.id).not.toBe(first);
    expect((await docker.getContainer(onNewImage.id).inspect()).Image).toBe(rebuiltId);
    await waitUntil('the old warm sandbox to be removed', () => gone(first!), { timeoutMs: 30_000 });
    await waitUntil('a warm sandbox on the new image', () => runtime.warmPool.ready().length === 1, { timeoutMs: 60_000 });
    await runtime.warmPool.settled();
    const [second] = await warmIds(instanceLabel);
    expect((await docker.getContainer(second!).inspect()).Image).toBe(rebuiltId);

    // Other limits: the warm sandbox is not given, and is replaced by one with the new limits.
    const wider = requestFor('none', { cpus: 0.5 });
    const withOtherLimits = await runtime.create(spec(wider));
    expect(withOtherLimits.id).not.toBe(second);
    await waitUntil('the warm sandbox with the old limits to be removed', () => gone(second!), { timeoutMs: 30_000 });
    await waitUntil('a warm sandbox with the new limits', () => runtime.warmPool.ready().length === 1, { timeoutMs: 60_000 });
    await runtime.warmPool.settled();
    const [third] = await warmIds(instanceLabel);
    expect((await docker.getContainer(third!).inspect()).HostConfig.NanoCpus).toBe(0.5e9);
    await Promise.all([onNewImage.destroy(), withOtherLimits.destroy()]);
  }, 180_000);

  it('does not hand out a sandbox killed while it waited: the session gets a working one', async () => {
    const { runtime, instanceLabel } = await newRuntime({ size: 1 });
    const request = requestFor();
    const [warmId] = await filled(runtime, instanceLabel, request);
    await docker.getContainer(warmId!).kill();
    const sandbox = await runtime.create(spec(request));
    expect(sandbox.id).not.toBe(warmId);
    expect((await sandbox.exec(['true'], { timeoutMs: 10_000 })).exitCode).toBe(0);
    await sandbox.destroy();
  }, 120_000);

  it('removes every warm sandbox when the runtime closes', async () => {
    const { runtime, instanceLabel } = await newRuntime({ size: 2 });
    const ids = await filled(runtime, instanceLabel, requestFor(), 2);
    expect(ids).toHaveLength(2);
    await runtime.close();
    for (const id of ids) expect(await gone(id)).toBe(true);
  }, 120_000);

  it('checks the repository out ahead of time once a session offered it, for the next session on that commit only', async () => {
    const { runtime, instanceLabel } = await newRuntime({ size: 1 });
    const dir = mkdtempSync(join(tmpdir(), 'telecoder-pool-repo-'));
    dirs.push(dir);
    const origin = makeRepo(join(dir, 'origin'), { 'README.md': '# widgets\n', 'src/index.js': 'export const answer = 42;\n' });
    const commit = git(origin, 'rev-parse', 'HEAD').trim();
    const clone = await GitWorkspace.clone({
      access: { repo: REPO, cloneUrl: pathToFileURL(origin).href, gitEnv: {} },
      dir: join(dir, 'clone'),
      branch: 'telecoder/first',
    });
    const archive = await buffer(clone.packForSandbox());
    const request: WarmRequest = { ...requestFor(), workspace: { repo: REPO, commit } };

    // The first session copies the repository in and offers it; only then does the pool follow it.
    const first = await runtime.create(spec(request));
    expect(first.workspacePrepared).toBe(false);
    await first.putArchive(first.workspace, Readable.from([archive]));
    expect((await first.exec([...SANDBOX_CHECKOUT], { timeoutMs: 30_000, env: { ...SANDBOX_GIT_ENV } })).exitCode).toBe(0);
    await runtime.warmPoolSettled();
    expect(runtime.warmPool.ready()).toEqual([]);
    runtime.offerWorkspace(first, { archive, checkout: SANDBOX_CHECKOUT, env: SANDBOX_GIT_ENV });
    await runtime.warmPoolSettled();
    const [warmId] = await warmIds(instanceLabel);
    expect(warmId).toBeDefined();

    // The next session on the commit gets it with the files in place, as the sandbox user.
    const second = await runtime.create(spec(request));
    expect(second.id).toBe(warmId);
    expect(second.workspacePrepared).toBe(true);
    expect(second.preparedFrom).toMatch(/warm pool/);
    const files = await second.exec(['sh', '-c', 'cat src/index.js && git rev-parse HEAD && stat -c %u README.md && git status --porcelain'], { timeoutMs: 10_000 });
    expect(files.stdout).toBe(`export const answer = 42;\n${commit}\n1000\n`);

    // Another commit: nothing in the pool holds it.
    git(origin, 'commit', '-q', '--allow-empty', '-m', 'next');
    const next = git(origin, 'rev-parse', 'HEAD').trim();
    await runtime.warmPoolSettled();
    const third = await runtime.create(spec({ ...request, workspace: { repo: REPO, commit: next } }));
    expect(third.workspacePrepared).toBe(false);
    expect((await third.exec(['ls', '-A', '/workspace'], { timeoutMs: 10_000 })).stdout).toBe('');
    await Promise.all([first.destroy(), second.destroy(), third.destroy()]);
  }, 120_000);

  it("reports a warm sandbox's refused egress to the session that claimed it", async () => {
    const { runtime, instanceLabel } = await newRuntime({ size: 1, egress: true });
    const request = requestFor('egress');
    const [warmId] = await filled(runtime, instanceLabel, request);
    const blocked: BlockedEgress[] = [];
    const sandbox: Sandbox = await runtime.create(spec(request, { onEgressBlocked: (entry) => blocked.push(entry) }));
    expect(sandbox.id).toBe(warmId);
    const refused = await sandbox.exec(['sh', '-c', "NO_PROXY= no_proxy= curl -sS -m 4 -o /dev/null -w '%{http_code}' http://not-allowed.example.com/ 2>&1"], {
      timeoutMs: 30_000,
    });
    expect(refused.stdout).toContain('403');
    await waitUntil('the refusal to be reported to the session', () => blocked.some((entry) => entry.host === 'not-allowed.example.com'), { timeoutMs: 10_000 });
    await sandbox.destroy();
  }, 300_000);
});
