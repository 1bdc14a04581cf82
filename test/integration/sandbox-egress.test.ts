import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerRuntime } from '../../src/sandbox/docker/docker-runtime.js';
import { egressSettings, PACKAGE_REGISTRIES, type EgressSettings } from '../../src/sandbox/egress/egress-settings.js';
import type { BlockedEgress, Sandbox, SandboxLimits } from '../../src/sandbox/runtime.js';
import { SANDBOX_CONTEXT_DIR, TEST_BASE_IMAGE, ensureTestImage } from '../helpers/sandbox-image.js';

// Egress from real sandboxes over real networks: what a hostile agent inside one tries, and what
// it must never reach (docs/egress.md). The registry checks go to the real npm registry.

const docker = new Dockerode();
const MiB = 1024 * 1024;
const limits: SandboxLimits = { memoryBytes: 512 * MiB, cpus: 1, pids: 128, wallClockMs: 300_000 };
const HOST_SECRET = 'HOST-SERVICE-SECRET';
const NEIGHBOUR_SECRET = 'NEIGHBOUR-SANDBOX-SECRET';

let image: string;
let hostServer: Server;
let hostPort: number;
const instances: string[] = [];
const runtimes: DockerRuntime[] = [];

function newRuntime(egress?: EgressSettings): DockerRuntime {
  const instanceLabel = `egress-test-${randomUUID().slice(0, 8)}`;
  instances.push(instanceLabel);
  const runtime = new DockerRuntime({
    image,
    baseImage: TEST_BASE_IMAGE,
    contextDir: SANDBOX_CONTEXT_DIR,
    instanceLabel,
    ...(egress ? { egress } : {}),
  });
  runtimes.push(runtime);
  return runtime;
}

async function withNetwork(runtime: DockerRuntime, blocked: BlockedEgress[] = []): Promise<Sandbox> {
  return runtime.create({ sessionId: `eg-${randomUUID().slice(0, 12)}`, network: 'egress', limits, onEgressBlocked: (b) => blocked.push(b) });
}

async function sh(sandbox: Sandbox, script: string, timeoutMs = 60_000): Promise<{ exitCode: number; out: string }> {
  const result = await sandbox.exec(['sh', '-c', script], { timeoutMs });
  return { exitCode: result.exitCode, out: `${result.stdout}${result.stderr}` };
}

/** One HTTP request with curl: through the sandbox's proxy settings, or `direct` around them. */
async function probe(sandbox: Sandbox, url: string, options: { direct?: boolean } = {}): Promise<{ exitCode: number; out: string }> {
  // Through the proxy means through it even for loopback names, which NO_PROXY otherwise keeps direct.
  const how = options.direct ? "curl --noproxy '*'" : 'NO_PROXY= no_proxy= curl';
  return sh(sandbox, `${how} -sS -m 4 -w '\\nstatus=%{http_code}' '${url}' 2>&1`, 30_000);
}

/** The sandbox's address (and its network's unowned gateway) on its session network. */
async function addressOf(sandbox: Sandbox): Promise<{ ip: string; gateway: string; network: string }> {
  const info = await docker.getContainer(sandbox.id).inspect();
  const [network, endpoint] = Object.entries(info.NetworkSettings.Networks)[0]!;
  const net = await docker.getNetwork(network).inspect();
  return { ip: endpoint.IPAddress, gateway: net.IPAM?.Config?.[0]?.Gateway ?? '', network };
}

function hostIPv4s(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((entry) => entry && entry.family === 'IPv4' && !entry.internal)
    .map((entry) => entry!.address);
}

async function waitFor(check: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const networkExists = (id: string) => docker.getNetwork(id).inspect().then(() => true, () => false);

beforeAll(async () => {
  image = await ensureTestImage();
  // A service on the host, on every interface, as a developer's database or TeleCoder in compose listens.
  hostServer = createServer((_req, res) => res.end(HOST_SECRET));
  await new Promise<void>((resolve) => hostServer.listen(0, '0.0.0.0', resolve));
  hostPort = (hostServer.address() as AddressInfo).port;
}, 900_000);

afterAll(async () => {
  await Promise.all(runtimes.map((runtime) => runtime.close().catch(() => undefined)));
  for (const instance of instances) {
    const label = [`telecoder.instance=${instance}`];
    for (const container of await docker.listContainers({ all: true, filters: { label } })) {
      await docker.getContainer(container.Id).remove({ force: true }).catch(() => undefined);
    }
    for (const network of await docker.listNetworks({ filters: { label } })) {
      await docker.getNetwork(network.Id).remove().catch(() => undefined);
    }
  }
  await new Promise((resolve) => hostServer?.close(resolve));
});

describe('egress under TELECODER_EGRESS=registries', () => {
  let runtime: DockerRuntime;
  let sandbox: Sandbox;
  const blocked: BlockedEgress[] = [];

  beforeAll(async () => {
    runtime = newRuntime(egressSettings({ egress: 'registries', egressAllow: [] }));
    sandbox = await withNetwork(runtime, blocked);
  }, 120_000);

  it('puts each session alone on an internal network where the host has no address, joined only by the hardened proxy; the network goes with the sandbox', async () => {
    const own = await withNetwork(runtime);
    const { network, ip } = await addressOf(own);
    const net = await docker.getNetwork(network).inspect();
    expect(net.Internal).toBe(true);
    expect(net.Options).toMatchObject({ 'com.docker.network.bridge.inhibit_ipv4': 'true' });
    expect(net.Labels).toMatchObject({ 'telecoder.egress-network': 'true' });
    const members = Object.values(net.Containers ?? {}).map((member) => member.Name);
    expect(members).toHaveLength(2);
    expect(members).toContain(`telecoder-${own.sessionId}`);
    expect(ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);

    const proxyName = members.find((name) => name.startsWith('telecoder-egress-proxy-'))!;
    expect(proxyName).toBeDefined();
    const proxy = await docker.getContainer(proxyName).inspect();
    expect(proxy.Config.User).toBe('65534:65534');
    expect(proxy.HostConfig.CapDrop).toEqual(['ALL']);
    expect(proxy.HostConfig.SecurityOpt).toContain('no-new-privileges:true');
    expect(proxy.HostConfig.ReadonlyRootfs).toBe(true);
    expect(proxy.HostConfig.Privileged).toBe(false);
    expect(proxy.HostConfig.NetworkMode).toBe('bridge');
    expect(proxy.HostConfig.Binds ?? []).toEqual([]);

    await own.destroy();
    await waitFor(async () => !(await networkExists(net.Id)), 'the session network was not removed');
  });

  it("reaches neither the host's services, nor another sandbox, nor private, loopback or metadata addresses: not directly, not through the proxy", async () => {
    // A neighbour serving its workspace, as a hostile agent would serve stolen code.
    const neighbour = await withNetwork(runtime);
    await sh(neighbour, `echo ${NEIGHBOUR_SECRET} > /workspace/secret.txt; nohup python3 -m http.server 8000 --bind 0.0.0.0 -d /workspace >/dev/null 2>&1 &`);
    await waitFor(async () => (await probe(neighbour, 'http://127.0.0.1:8000/secret.txt', { direct: true })).out.includes(NEIGHBOUR_SECRET), 'the neighbour server did not start');
    const mine = await addressOf(sandbox);
    const theirs = await addressOf(neighbour);
    const bridgeGateway = (await docker.getNetwork('bridge').inspect()).IPAM?.Config?.[0]?.Gateway ?? '172.17.0.1';
    const hostAddresses = [...new Set([...hostIPv4s(), bridgeGateway, mine.gateway])];

    const direct = [
      ...hostAddresses.map((address) => `http://${address}:${hostPort}/`),
      `http://${theirs.ip}:8000/secret.txt`,
      'http://169.254.169.254/latest/meta-data/',
    ];
    const proxied = [
      ...hostAddresses.map((address) => `http://${address}:${hostPort}/`),
      `https://${hostAddresses[0]}:${hostPort}/`,
      `http://${theirs.ip}:8000/secret.txt`,
      'http://169.254.169.254/latest/meta-data/',
      'http://10.1.2.3/',
      'http://127.0.0.1:8000/',
      `http://localhost.:${hostPort}/`,
    ];
    const results = await Promise.all([
      ...direct.map(async (url) => ({ url, how: 'direct', ...(await probe(sandbox, url, { direct: true })) })),
      ...proxied.map(async (url) => ({ url, how: 'proxy', ...(await probe(sandbox, url)) })),
    ]);
    for (const result of results) {
      expect(result.out, `${result.how} ${result.url}`).not.toContain(HOST_SECRET);
      expect(result.out, `${result.how} ${result.url}`).not.toContain(NEIGHBOUR_SECRET);
      if (result.how === 'direct') expect(result.exitCode, `${result.how} ${result.url}: ${result.out}`).not.toBe(0);
      // Through the proxy the refusal is the proxy's own answer, not a network accident.
      else expect(result.out, `${result.how} ${result.url}`).toMatch(/blocked by TeleCoder|CONNECT tunnel failed, response 403/);
    }
    const reasons = new Map(blocked.map((entry) => [entry.host, entry]));
    expect(reasons.get('169.254.169.254')).toMatchObject({ reason: 'address', detail: expect.stringContaining('link-local') });
    expect(reasons.get('10.1.2.3')).toMatchObject({ reason: 'address', detail: expect.stringContaining('private') });
    expect(reasons.get(theirs.ip)).toMatchObject({ reason: 'address' });
    await neighbour.destroy();
  });

  it('resolves no external name inside the sandbox (nothing to tunnel through DNS): only the proxy resolves', async () => {
    const lookup = await sh(sandbox, 'getent hosts registry.npmjs.org; echo "exit=$?"');
    expect(lookup.out).toContain('exit=2');
    const env = await sh(sandbox, 'echo "$HTTPS_PROXY"');
    expect(env.out.trim()).toMatch(/^http:\/\/\d+\.\d+\.\d+\.\d+:3128$/);
  });

  it('reaches an allowed registry through the proxy: npm uses it as it is', async () => {
    const view = await sh(sandbox, 'npm view is-number@7.0.0 version', 120_000);
    expect(view, view.out).toMatchObject({ exitCode: 0 });
    expect(view.out.trim()).toBe('7.0.0');
  }, 150_000);

  it('refuses a host that is not allowed with a message saying how to allow it, and reports it once', async () => {
    const first = await probe(sandbox, 'http://not-allowed.example.com/');
    expect(first.out).toContain('egress to not-allowed.example.com blocked by TeleCoder');
    expect(first.out).toContain('TELECODER_EGRESS_ALLOW');
    expect(first.out).toContain('status=403');
    const tunnel = await probe(sandbox, 'https://not-allowed.example.com/');
    expect(tunnel.out).toContain('CONNECT tunnel failed, response 403');
    await waitFor(async () => blocked.some((entry) => entry.host === 'not-allowed.example.com'), 'no report of the refusal');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(blocked.filter((entry) => entry.host === 'not-allowed.example.com')).toEqual([
      { host: 'not-allowed.example.com', port: 80, reason: 'not-allowed', detail: 'not an allowed host' },
    ]);
  });

  it('starts the proxy again when it is gone, and later sandboxes reach the registry through it', async () => {
    const proxies = await docker.listContainers({ all: true, filters: { label: [`telecoder.instance=${instances[0]}`, 'telecoder.egress-proxy=true'] } });
    expect(proxies).toHaveLength(1);
    await docker.getContainer(proxies[0]!.Id).remove({ force: true });
    const next = await withNetwork(runtime);
    const reached = await probe(next, 'https://registry.npmjs.org/is-number');
    expect(reached.out).toContain('status=200');
    await next.destroy();
  }, 120_000);
});

describe('the other policies', () => {
  it('an allow-list entry *.example lets its subdomains through, and nothing else', async () => {
    const blocked: BlockedEgress[] = [];
    const sandbox = await withNetwork(newRuntime({ policy: 'registries', allow: ['*.npmjs.org'] }), blocked);
    expect((await probe(sandbox, 'https://registry.npmjs.org/is-number')).out).toContain('status=200');
    expect((await probe(sandbox, 'https://registry.yarnpkg.com/is-number')).out).toContain('response 403');
    await waitFor(async () => blocked.some((entry) => entry.host === 'registry.yarnpkg.com'), 'no report of the refusal');
  }, 120_000);

  it('open reaches public hosts, and still never the host, metadata or private addresses', async () => {
    const blocked: BlockedEgress[] = [];
    const sandbox = await withNetwork(newRuntime({ policy: 'open', allow: [] }), blocked);
    expect((await probe(sandbox, 'https://registry.npmjs.org/is-number')).out).toContain('status=200');
    for (const url of [...hostIPv4s().map((address) => `http://${address}:${hostPort}/`), 'http://169.254.169.254/', 'http://192.168.1.1/']) {
      const result = await probe(sandbox, url);
      expect(result.out, url).not.toContain(HOST_SECRET);
      expect(result.out, url).toContain('status=403');
    }
    expect(blocked.every((entry) => entry.reason === 'address')).toBe(true);
  }, 120_000);

  it('none gives a sandbox no network at all, and starts no proxy', async () => {
    const runtime = newRuntime({ policy: 'none', allow: PACKAGE_REGISTRIES });
    const sandbox = await withNetwork(runtime);
    const info = await docker.getContainer(sandbox.id).inspect();
    expect(info.HostConfig.NetworkMode).toBe('none');
    const result = await sh(sandbox, `ls /sys/class/net; echo "proxy=[$HTTPS_PROXY]"; curl -sS -m 4 -o /dev/null https://registry.npmjs.org/ 2>&1; echo "exit=$?"`);
    expect(result.out).toContain('proxy=[]');
    expect(result.out.split('\n')[0]).toBe('lo');
    expect(result.out).not.toContain('exit=0');
    const proxies = await docker.listContainers({ all: true, filters: { label: [`telecoder.instance=${instances.at(-1)}`, 'telecoder.egress-proxy=true'] } });
    expect(proxies).toEqual([]);
  });

  it('the start-up sweep removes the networks and the proxy an earlier run left', async () => {
    const earlier = newRuntime();
    const left = await withNetwork(earlier);
    const { network } = await addressOf(left);
    // A new server on the same instance: the earlier one's sandbox container is gone (the engine's
    // own sweep removes those), its network and proxy are what remain.
    await docker.getContainer(left.id).remove({ force: true });
    const instance = instances.at(-1)!;
    const next = new DockerRuntime({ image, baseImage: TEST_BASE_IMAGE, contextDir: SANDBOX_CONTEXT_DIR, instanceLabel: instance });
    await next.sweep();
    expect(await networkExists(network)).toBe(false);
    const proxies = await docker.listContainers({ all: true, filters: { label: [`telecoder.instance=${instance}`, 'telecoder.egress-proxy=true'] } });
    expect(proxies).toEqual([]);
  }, 120_000);
});
