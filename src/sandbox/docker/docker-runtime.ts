import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import Dockerode from 'dockerode';
import tarFs from 'tar-fs';
import type { Logger } from '../../logger.js';
import type {
  DependencyCacheInfo,
  ImageProgress,
  ManagedSandbox,
  Runtime,
  Sandbox,
  SandboxSpec,
  WarmRequest,
  WorkspaceOffer,
  WorkspaceSnapshotRequest,
} from '../runtime.js';
import { WorkspaceSnapshots } from './workspace-snapshots.js';
import { PACKAGE_REGISTRIES, type EgressSettings } from '../egress/egress-settings.js';
import { hostNetworks } from './egress/host-networks.js';
import { SandboxNetworks, type SandboxNetwork as SandboxNetworkAttachment } from './egress/sandbox-networks.js';
import { InMemorySandboxClaims, type SandboxClaims } from '../sandbox-claims.js';
import { WarmKeyChangedError, WarmPool, type WarmKey, type WarmMember } from './warm-pool.js';
import {
  CACHE_LABEL,
  CACHE_MOUNT_PATH,
  CACHE_REPO_LABEL,
  cacheVolumeName,
  ensureCacheVolume,
  listCacheVolumes,
  removeCacheVolume,
} from './cache-volumes.js';
import { DockerSandbox, forceRemove, SANDBOX_USER, WORKSPACE_DIR, statusCodeOf } from './docker-sandbox.js';
import { diskUsageMeter } from './disk-usage.js';
import { isStorageQuotaUnsupported } from './storage-quota.js';

/** The image label listing the coding-agent CLIs it carries (sandbox/Dockerfile). */
const CODING_AGENTS_LABEL = 'telecoder.coding-agents';

export const MANAGED_LABEL = 'telecoder.managed';
export const SESSION_LABEL = 'telecoder.session';
export const INSTANCE_LABEL = 'telecoder.instance';
/** Marks a sandbox made for the warm pool: its session, once claimed, is in SandboxClaims. */
export const WARM_LABEL = 'telecoder.warm';
/** Repositories kept beyond the pool's size (their .git in memory, at most 8 MiB each). */
const KEPT_SPARE = 4;
const PRELOAD_TIMEOUT_MS = 120_000;
/** How long a warm sandbox waits for a session before it is made again. */
const DEFAULT_WARM_MAX_IDLE_MS = 10 * 60_000;

const PING_TIMEOUT_MS = 10_000;
/** Measuring a sandbox's disk use costs a `du` of its files (~50 ms for 20,000 files). */
const DEFAULT_DISK_POLL_MS = 2_000;

export interface DockerRuntimeOptions {
  /** Default: `new Dockerode()`, which honours DOCKER_HOST (and DOCKER_TLS_VERIFY/DOCKER_CERT_PATH). */
  docker?: Dockerode;
  /** Sandbox image name, built from `contextDir` when missing. */
  image: string;
  /** BASE_IMAGE build argument of sandbox/Dockerfile. */
  baseImage: string;
  /** A PEM file of extra CAs to build into the image (EXTRA_CA_CERTS), for TLS-inspecting proxies. */
  caCertsFile?: string;
  /** The sandbox/ directory (Dockerfile and anything it copies). */
  contextDir: string;
  logger?: Logger;
  /** Tells this server's containers apart from another TeleCoder's on the same engine. */
  instanceLabel?: string;
  /** What sandboxes with a network may reach (TELECODER_EGRESS); default: the package registries. */
  egress?: EgressSettings;
  /** Networks the egress proxy refuses besides private and link-local ranges; default: this machine's own. */
  egressDeny?: readonly string[];
  /** How often a sandbox's disk use is measured against SandboxLimits.diskBytes (default 2 s). */
  diskPollMs?: number;
  /** Sandboxes kept created and started for the next sessions (TELECODER_WARM_SANDBOXES); default 0. */
  warmSandboxes?: number;
  /** How long a warm sandbox waits for a session before it is replaced (default 10 minutes). */
  warmMaxIdleMs?: number;
  /** Where a session's claim of a warm sandbox is recorded (the store); default in memory. */
  claims?: SandboxClaims;
}

/** A repository's .git a session copied in, kept for the warm pool (DockerRuntime.offerWorkspace). */
interface KeptWorkspace {
  commit: string;
  archive: Buffer;
  checkout: readonly string[];
  env: Readonly<Record<string, string>>;
}

/** Where a sandbox starts (DockerRuntime.startPoint). */
interface StartPoint {
  /** The workspace snapshot image to start from, when there is a current one. */
  snapshot: string | undefined;
  /** Without a snapshot: the .git a warm sandbox is given and checks out before its session. */
  preload?: KeptWorkspace | undefined;
  labels: Record<string, string>;
  /** The sandbox image's id; undefined when it was not needed (no pool) or the image is missing. */
  imageId: string | undefined;
}

type LaunchOptions = WarmRequest &
  Pick<SandboxSpec, 'labels' | 'onEgressBlocked'> & { sessionId?: string; name: string; start: StartPoint; idleMs: number };

/** A started sandbox with the network it was given (a warm one binds it to its session later). */
interface WarmSandbox extends WarmMember {
  sandbox: DockerSandbox;
  network: SandboxNetworkAttachment;
}

function warmRequestOf(spec: SandboxSpec): WarmRequest {
  return {
    network: spec.network,
    limits: spec.limits,
    ...(spec.cache ? { cache: spec.cache } : {}),
    ...(spec.workspace ? { workspace: spec.workspace } : {}),
  };
}

/** Equal keys, interchangeable containers: the image, limits, network, cache volume and snapshot. */
function warmKeyOf(request: WarmRequest, start: StartPoint): WarmKey {
  const shape = JSON.stringify([start.imageId ?? '', request.network, request.limits]);
  const repo = request.cache?.repo ?? '';
  return { repo, shape, full: JSON.stringify([shape, repo, start.snapshot ?? '', start.preload?.commit ?? '']) };
}

/** Runs each session's sandbox as a locked-down Docker container. */
export class DockerRuntime implements Runtime {
  private readonly docker: Dockerode;
  private readonly image: string;
  private readonly baseImage: string;
  private readonly caCertsFile: string | undefined;
  private readonly contextDir: string;
  private readonly logger: Logger | undefined;
  private readonly instanceLabel: string | undefined;
  private building: Promise<void> | undefined;
  private readonly networks: SandboxNetworks;
  private readonly live = new Map<string, DockerSandbox>();
  private readonly snapshots: WorkspaceSnapshots;
  private readonly diskPollMs: number;
  private readonly pool: WarmPool<WarmSandbox>;
  private readonly claims: SandboxClaims;
  private readonly warmMaxIdleMs: number;
  /** Sandboxes whose repository the pool follows once the session offered its workspace. */
  private readonly awaitingOffer = new Map<string, WarmRequest>();
  /** Per repository, the last small .git a session offered (newest last). */
  private readonly kept = new Map<string, KeptWorkspace>();
  /** Snapshots being made and offers being looked up: each changes what the pool wants. */
  private readonly poolUpdates = new Set<Promise<void>>();
  /** Whether the storage driver takes `storage-opt size`; unknown until a sandbox asked for it. */
  private diskQuota: boolean | undefined;

  constructor(options: DockerRuntimeOptions) {
    this.docker = options.docker ?? new Dockerode();
    this.image = options.image;
    this.baseImage = options.baseImage;
    this.caCertsFile = options.caCertsFile;
    this.contextDir = options.contextDir;
    this.logger = options.logger;
    this.instanceLabel = options.instanceLabel;
    this.diskPollMs = options.diskPollMs ?? DEFAULT_DISK_POLL_MS;
    this.claims = options.claims ?? new InMemorySandboxClaims();
    this.warmMaxIdleMs = options.warmMaxIdleMs ?? DEFAULT_WARM_MAX_IDLE_MS;
    this.pool = new WarmPool<WarmSandbox>({
      size: options.warmSandboxes ?? 0,
      maxIdleMs: this.warmMaxIdleMs,
      keyOf: async (request) => {
        const start = await this.startPoint(request);
        if (!start.imageId) throw new Error(`the sandbox image ${this.image} does not exist yet`);
        return warmKeyOf(request, start);
      },
      make: (request, key) => this.makeWarm(request, key),
      claims: this.claims,
      logger: this.logger,
    });
    const scope = this.instanceLabel ? [`${INSTANCE_LABEL}=${this.instanceLabel}`] : [];
    this.networks = new SandboxNetworks({
      docker: this.docker,
      sandboxImage: this.image,
      proxySourceDir: join(this.contextDir, 'egress-proxy'),
      settings: options.egress ?? { policy: 'registries', allow: PACKAGE_REGISTRIES },
      deny: options.egressDeny ?? hostNetworks(),
      labels: this.instanceLabel ? { [INSTANCE_LABEL]: this.instanceLabel } : {},
      scope,
      instanceLabel: this.instanceLabel,
      logger: this.logger,
    });
    this.snapshots = new WorkspaceSnapshots({
      docker: this.docker,
      image: this.image,
      instanceLabel: this.instanceLabel,
      scopeFilters: this.instanceLabel ? [`${INSTANCE_LABEL}=${this.instanceLabel}`] : [],
      logger: this.logger,
      // Like a session's sandbox, but with no network and no cache: only git runs in it.
      startSandbox: (labels, limits) =>
        this.create({ sessionId: `snapshot-${randomBytes(4).toString('hex')}`, network: 'none', limits, labels }),
    });
  }

  /** A new snapshot changes what the next session of its repository starts from: the pool follows. */
  async snapshotWorkspace(request: WorkspaceSnapshotRequest): Promise<void> {
    await this.following(this.snapshots.make(request).then(() => this.pool.refresh()));
  }

  async snapshotSandbox(sandbox: Sandbox, target: { repo: string; commit: string }): Promise<void> {
    await this.following(this.snapshots.commitSandbox(sandbox, target.repo, target.commit).then(() => this.pool.refresh()));
  }

  /** Resolves once the pool holds what it wants after every snapshot and offer so far (tests, the benchmark). */
  async warmPoolSettled(): Promise<void> {
    while (this.poolUpdates.size > 0) await Promise.allSettled([...this.poolUpdates]);
    await this.pool.settled();
  }

  /** Tracks what will change the pool's wants, for warmPoolSettled. */
  private following<T>(pending: Promise<T>): Promise<T> {
    const tracked = pending.then(() => undefined, () => undefined);
    this.poolUpdates.add(tracked);
    void tracked.finally(() => this.poolUpdates.delete(tracked));
    return pending;
  }

  /** Resolves when no workspace snapshot is being made. */
  snapshotsIdle(): Promise<void> {
    return this.snapshots.idle();
  }

  async ping(): Promise<void> {
    try {
      // dockerode takes an abort signal here, its type definitions do not say so.
      const docker = this.docker as unknown as { ping(options: { abortSignal: AbortSignal }): Promise<unknown> };
      await docker.ping({ abortSignal: AbortSignal.timeout(PING_TIMEOUT_MS) });
    } catch (error) {
      const cause = error instanceof Error ? error.message : String(error);
      throw new Error(
        `Docker is unreachable at ${this.endpoint()} (${cause}). Start the Docker daemon (e.g. "sudo systemctl start docker") ` +
          'and make sure this user may use it (e.g. membership of the "docker" group), or set DOCKER_HOST to the engine to use ' +
          '(e.g. unix:///var/run/docker.sock or tcp://HOST:2376).',
        { cause: error },
      );
    }
  }

  ensureImage(onProgress?: ImageProgress): Promise<void> {
    // Concurrent callers share one build; a failed build may be retried by the next caller.
    this.building ??= this.buildIfMissing(onProgress).finally(() => {
      this.building = undefined;
    });
    return this.building;
  }

  async create(spec: SandboxSpec): Promise<Sandbox> {
    const start = await this.startPoint(spec);
    if (this.pool.size === 0 || spec.labels || !start.imageId) return this.createCold(spec, start);
    const request = warmRequestOf(spec);
    const key = warmKeyOf(request, start);
    const member = this.pool.take(key.full, spec.sessionId);
    // The pool follows this request now when the sandbox is ready as it is; otherwise once the
    // session offered what it copied in, so the next sandbox can hold it already.
    const readyAsItIs = !spec.workspace || start.snapshot !== undefined || member?.sandbox.workspacePrepared === true;
    if (readyAsItIs) this.pool.want(request, key);
    const sandbox = (member ? await this.claimWarm(member, spec) : undefined) ?? (await this.createCold(spec, start));
    if (!readyAsItIs) this.awaitingOffer.set(sandbox.id, request);
    return sandbox;
  }

  private async createCold(spec: SandboxSpec, start: StartPoint): Promise<Sandbox> {
    const name = `telecoder-${spec.sessionId}`;
    await this.removeEarlierAttempt(spec.sessionId, name);
    const { sandbox } = await this.launch({ ...spec, name, start, idleMs: 0 });
    return sandbox;
  }

  /**
   * The session copied its repository into `sandbox`: kept (when small) for the next sandboxes
   * of that commit, and the pool follows the session's request now.
   */
  offerWorkspace(sandbox: Sandbox, offer: WorkspaceOffer): void {
    const request = this.awaitingOffer.get(sandbox.id);
    if (!request) return;
    this.awaitingOffer.delete(sandbox.id);
    if (offer.archive && request.workspace) {
      const { repo, commit } = request.workspace;
      this.kept.delete(repo);
      this.kept.set(repo, { commit, archive: offer.archive, checkout: offer.checkout, env: offer.env });
      // The most recent repositories only: each holds its .git in memory.
      for (const old of [...this.kept.keys()].slice(0, Math.max(0, this.kept.size - this.pool.size - KEPT_SPARE))) this.kept.delete(old);
    }
    void this.following(this.startPoint(request))
      .then((start) => {
        if (start.imageId) this.pool.want(request, warmKeyOf(request, start));
      })
      .catch((error: unknown) => this.logger?.warn({ err: error }, 'could not look up what the next warm sandbox starts from'));
  }

  /**
   * Where a sandbox for this request starts: its workspace snapshot when there is a current one,
   * the labels that let it become one, and the sandbox image's id (what the warm pool keys on).
   */
  private async startPoint(request: WarmRequest): Promise<StartPoint> {
    if (request.workspace) {
      const { repo, commit } = request.workspace;
      const found = await this.snapshots.lookup(repo, commit);
      const kept = this.kept.get(repo);
      // A snapshot holds the files already; else a warm sandbox can be given the kept .git ahead of time.
      const preload = !found.reference && kept?.commit === commit ? kept : undefined;
      return { snapshot: found.reference, labels: found.labels, imageId: found.baseId, ...(preload ? { preload } : {}) };
    }
    if (this.pool.size === 0) return { snapshot: undefined, labels: {}, imageId: undefined };
    // A missing image is said by the create that follows, with how to build it.
    const image = await this.docker.getImage(this.image).inspect().catch(() => undefined);
    return { snapshot: undefined, labels: {}, imageId: image?.Id };
  }

  /**
   * Gives a warm sandbox to its session: its network reports to it, its clock starts, and its
   * container takes the session's name. Undefined (the sandbox removed) when it stopped while it
   * waited; the session then starts a sandbox of its own.
   */
  private async claimWarm(member: WarmSandbox, spec: SandboxSpec): Promise<Sandbox | undefined> {
    const { sandbox } = member;
    const name = `telecoder-${spec.sessionId}`;
    try {
      // One this process lost track of only holds the name, which the rename below takes back.
      await this.destroyLiveAttempt(spec.sessionId);
      if (!(await sandbox.usable())) throw new Error('it stopped while it waited');
      await member.network.bind(spec.sessionId, spec.onEgressBlocked);
    } catch (error) {
      this.logger?.warn({ err: error, sessionId: spec.sessionId, containerId: sandbox.id }, 'a warm sandbox could not be used; starting one');
      await member.destroy().catch(() => undefined);
      return undefined;
    }
    sandbox.claim(spec.sessionId);
    // The name is for people reading `docker ps`; the claim in the store is what says whose it is.
    // Off the session's way: Docker answers a rename in milliseconds, but every one counts here.
    void this.renameClaimed(sandbox.id, name).catch((error: unknown) =>
      this.logger?.debug({ err: error, sessionId: spec.sessionId }, 'could not rename a claimed sandbox'),
    );
    this.logger?.info({ sessionId: spec.sessionId, containerId: sandbox.id, network: spec.network }, 'sandbox taken from the warm pool');
    return sandbox;
  }

  private async renameClaimed(id: string, name: string): Promise<void> {
    try {
      await this.docker.getContainer(id).rename({ name });
    } catch (error) {
      if (statusCodeOf(error) !== 409) throw error;
      // A stale container of an earlier attempt holds the name.
      await forceRemove(this.docker.getContainer(name));
      await this.docker.getContainer(id).rename({ name });
    }
  }

  /** Makes a sandbox for no session yet (the warm pool); the pool hands it out with claimWarm. */
  private async makeWarm(request: WarmRequest, key: WarmKey): Promise<WarmSandbox> {
    const start = await this.startPoint(request);
    const now = warmKeyOf(request, start);
    if (now.full !== key.full) throw new WarmKeyChangedError();
    const member = await this.launch({ ...request, name: `telecoder-warm-${randomBytes(6).toString('hex')}`, start, idleMs: this.warmMaxIdleMs });
    try {
      // Ready means its executor answers too: a session must not wait for node to start in it.
      if (!(await member.sandbox.usable())) throw new Error('the warm sandbox stopped as it started');
      if (!start.preload) return member;
      // The same copy and checkout a session would make, as the sandbox user, before anyone has it.
      await member.sandbox.putArchive(WORKSPACE_DIR, Readable.from([start.preload.archive]));
      const checkout = await member.sandbox.exec([...start.preload.checkout], {
        timeoutMs: PRELOAD_TIMEOUT_MS,
        env: { ...start.preload.env },
        maxOutputBytes: 16 * 1024,
      });
      if (checkout.exitCode !== 0 || checkout.timedOut) {
        throw new Error(`checking the repository out in a warm sandbox failed (exit ${checkout.exitCode}): ${(checkout.stderr || checkout.stdout).trim().slice(0, 500)}`);
      }
      member.sandbox.markPrepared();
      return member;
    } catch (error) {
      await member.destroy().catch(() => undefined);
      throw error;
    }
  }

  /**
   * Creates and starts one sandbox container. `sessionId` empty: a warm sandbox, which waits
   * `idleMs` at most for its session before its wall clock starts (its own `sleep` covers both).
   */
  private async launch(options: LaunchOptions): Promise<WarmSandbox> {
    const { limits, start } = options;
    const sessionId = options.sessionId ?? '';
    const mounts: Dockerode.MountConfig = [];
    if (options.cache) {
      const volume = cacheVolumeName(this.instanceLabel, options.cache.repo);
      await ensureCacheVolume(this.docker, volume, {
        [MANAGED_LABEL]: 'true',
        [CACHE_LABEL]: 'true',
        [CACHE_REPO_LABEL]: options.cache.repo,
        ...(this.instanceLabel ? { [INSTANCE_LABEL]: this.instanceLabel } : {}),
      });
      // The repository's own cache volume, nothing else: no host path, no socket.
      mounts.push({ Type: 'volume', Source: volume, Target: CACHE_MOUNT_PATH, ReadOnly: false });
    }

    const labels: Record<string, string> = {
      // A session sandbox may be saved as its commit's snapshot once setup is done.
      ...start.labels,
      ...options.labels,
      [MANAGED_LABEL]: 'true',
      // Empty for a warm sandbox (a snapshot image's own label is not inherited): its session is in the claims.
      [SESSION_LABEL]: sessionId,
      ...(sessionId ? {} : { [WARM_LABEL]: 'true' }),
      ...(this.instanceLabel ? { [INSTANCE_LABEL]: this.instanceLabel } : {}),
    };
    const { snapshot } = start;
    // The sandbox's own network and the proxy settings that go with it; undone when the sandbox ends.
    const network = await this.networks.prepare({ sessionId, network: options.network, ...(options.onEgressBlocked ? { onEgressBlocked: options.onEgressBlocked } : {}) });
    const container = await this.createContainer({
      name: options.name,
      Image: snapshot ?? this.image,
      // The container ends itself at the wall clock even if this server dies meanwhile.
      Cmd: ['sleep', String(Math.ceil((limits.wallClockMs + options.idleMs) / 1000))],
      User: SANDBOX_USER,
      WorkingDir: WORKSPACE_DIR,
      Labels: labels,
      Env: network.env,
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      Tty: false,
      OpenStdin: false,
      HostConfig: {
        Init: true,
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges:true'],
        Privileged: false,
        ReadonlyRootfs: false,
        AutoRemove: false,
        Memory: limits.memoryBytes,
        MemorySwap: limits.memoryBytes,
        NanoCpus: Math.round(limits.cpus * 1e9),
        PidsLimit: limits.pids,
        ...network.hostConfig,
        // Nothing from the host is shared with the sandbox: no binds or sockets, and no volume but
        // the repository's own dependency cache.
        Binds: [],
        Mounts: mounts,
        // A hard cap where the storage driver has one (overlay2 on xfs with pquota, btrfs, zfs);
        // the disk watchdog below enforces the limit everywhere else, and counts the cache volume.
        ...(limits.diskBytes !== undefined && this.diskQuota !== false ? { StorageOpt: { size: String(limits.diskBytes) } } : {}),
      },
    }).catch(async (error: unknown) => {
      await network.release();
      throw error;
    });

    const sandbox = new DockerSandbox({
      docker: this.docker,
      container,
      sessionId,
      wallClockMs: limits.wallClockMs,
      ...(this.logger ? { logger: this.logger } : {}),
      onExit: () => {
        this.live.delete(container.id);
        this.awaitingOffer.delete(container.id);
        this.claims.release(container.id);
        void network.release();
      },
      workspacePrepared: snapshot !== undefined,
      residentExecutor: true,
      ...(limits.diskBytes !== undefined
        ? { disk: { limitBytes: limits.diskBytes, pollMs: this.diskPollMs, meter: () => diskUsageMeter({ container }) } }
        : {}),
    });
    try {
      await container.start();
    } catch (error) {
      await sandbox.destroy().catch(() => undefined);
      const whose = sessionId ? `session ${sessionId}` : 'the warm pool';
      throw new Error(`Could not start the sandbox container for ${whose}: ${messageOf(error)}`, { cause: error });
    }
    this.live.set(container.id, sandbox);
    if (sessionId) sandbox.startWatching();
    else sandbox.startIdle();
    this.logger?.info({ sessionId, containerId: container.id, network: options.network, warm: !sessionId }, sessionId ? 'sandbox started' : 'warm sandbox started');
    return { id: container.id, sandbox, network, exited: sandbox.exited, destroy: () => sandbox.destroy() };
  }

  private async createContainer(options: Dockerode.ContainerCreateOptions): Promise<Dockerode.Container> {
    try {
      const container = await this.docker.createContainer(options);
      if (options.HostConfig?.StorageOpt && this.diskQuota === undefined) {
        this.diskQuota = true;
        this.logger?.info('the storage driver enforces sandbox disk limits (storage-opt size)');
      }
      return container;
    } catch (error) {
      if (options.HostConfig?.StorageOpt && isStorageQuotaUnsupported(error)) {
        // overlay2 on ext4 and the like: no per-container quota, the disk watchdog alone enforces it.
        this.diskQuota = false;
        this.logger?.info({ reason: messageOf(error) }, 'the storage driver has no per-container disk quota; a watchdog enforces sandbox disk limits');
        const { StorageOpt: _unsupported, ...hostConfig } = options.HostConfig;
        return this.createContainer({ ...options, HostConfig: hostConfig });
      }
      if (statusCodeOf(error) === 404) {
        throw new Error(
          `The sandbox image ${this.image} does not exist on this Docker engine. Build it with ` +
            `"docker build --build-arg BASE_IMAGE=${this.baseImage} -t ${this.image} ${this.contextDir}".`,
          { cause: error },
        );
      }
      throw error;
    }
  }

  /** Every sandbox of this server; a warm one's session is the one that claimed it ('' before). */
  async listManaged(): Promise<ManagedSandbox[]> {
    const label = [`${MANAGED_LABEL}=true`];
    if (this.instanceLabel) label.push(`${INSTANCE_LABEL}=${this.instanceLabel}`);
    const containers = await this.docker.listContainers({ all: true, filters: { label } });
    return containers.map((container) => ({
      id: container.Id,
      sessionId: container.Labels?.[SESSION_LABEL] || this.claims.claimant(container.Id) || '',
      running: container.State === 'running',
    }));
  }

  async remove(id: string): Promise<void> {
    const sandbox = this.live.get(id);
    if (sandbox) {
      await sandbox.destroy();
      return;
    }
    await forceRemove(this.docker.getContainer(id));
    this.claims.release(id);
  }

  /**
   * Session networks (and an egress proxy) an earlier run left: their sandboxes are gone. Claims
   * of sandboxes that no longer exist are forgotten.
   */
  async sweep(): Promise<void> {
    await this.networks.sweep();
    const existing = await this.listManaged();
    this.claims.retainOnly(new Set(existing.map((sandbox) => sandbox.id)));
  }

  /**
   * Gets the egress proxy and a spare sandbox network ready, and fills the warm pool for the
   * requests given (the repositories used last), off any session's path.
   */
  warm(likely: readonly WarmRequest[] = []): void {
    this.networks.warm();
    if (this.pool.size === 0) return;
    void (async () => {
      // Oldest first: each `want` moves its repository to the front.
      for (const request of [...likely].reverse()) {
        const start = await this.startPoint(request);
        if (start.imageId) this.pool.want(request, warmKeyOf(request, start));
      }
    })().catch((error: unknown) => this.logger?.warn({ err: error }, 'could not fill the warm pool; sessions start cold'));
  }

  /** The warm pool (tests and the benchmark wait for it to fill). */
  get warmPool(): WarmPool<WarmSandbox> {
    return this.pool;
  }

  /** Removes the warm sandboxes, then the egress proxy once the sandboxes' networks are gone. */
  async close(): Promise<void> {
    await this.pool.close();
    await this.networks.close();
  }

  async listCaches(): Promise<DependencyCacheInfo[]> {
    const scope = this.instanceLabel ? [`${INSTANCE_LABEL}=${this.instanceLabel}`] : [];
    const volumes = await listCacheVolumes(this.docker, scope);
    // A repository with only a workspace snapshot (its dependency cache turned off) is listed
    // too, so that pruning it frees the snapshot.
    const listed = new Set(volumes.map((volume) => volume.repo));
    const snapshots = (await this.snapshots.list()).filter((snapshot) => !listed.has(snapshot.repo));
    return [...volumes, ...snapshots];
  }

  async removeCache(repo: string): Promise<void> {
    await this.snapshots.remove(repo);
    await removeCacheVolume(this.docker, cacheVolumeName(this.instanceLabel, repo), repo);
  }

  private async buildIfMissing(onProgress?: ImageProgress): Promise<void> {
    if (await this.imageExists()) return;
    this.logger?.info({ image: this.image, baseImage: this.baseImage }, 'building sandbox image');
    // tar-fs packs into a streamx stream, which pipes like a Node stream (all dockerode needs).
    const context = tarFs.pack(this.contextDir) as unknown as NodeJS.ReadableStream;
    let output: Readable;
    try {
      output = (await this.docker.buildImage(context, {
        t: this.image,
        buildargs: { BASE_IMAGE: this.baseImage, ...(await this.extraCaCerts()) },
        rm: true,
        forcerm: true,
      })) as unknown as Readable;
    } catch (error) {
      throw new Error(`Building the sandbox image ${this.image} from ${this.contextDir} failed: ${messageOf(error)}`, { cause: error });
    }
    const buildError = await followBuild(output, onProgress);
    if (buildError) {
      throw new Error(
        `Building the sandbox image ${this.image} (BASE_IMAGE=${this.baseImage}) failed: ${buildError}. ` +
          'Fix the cause above, or build it yourself with "docker build --build-arg BASE_IMAGE=... -t IMAGE sandbox/".',
      );
    }
    if (!(await this.imageExists())) {
      throw new Error(`Docker reported building ${this.image} but the image does not exist afterwards; build it by hand to see why.`);
    }
  }

  private async extraCaCerts(): Promise<Record<string, string>> {
    if (!this.caCertsFile) return {};
    try {
      return { EXTRA_CA_CERTS: await readFile(this.caCertsFile, 'utf8') };
    } catch (error) {
      throw new Error(`cannot read TELECODER_SANDBOX_CA_CERTS (${this.caCertsFile}): ${messageOf(error)}; give the path of a PEM file of CA certificates`, { cause: error });
    }
  }

  async installedAgents(): Promise<ReadonlySet<string> | undefined> {
    try {
      const { Config } = await this.docker.getImage(this.image).inspect();
      const label = Config?.Labels?.[CODING_AGENTS_LABEL];
      // An image built before the label existed carries no agent CLIs.
      return new Set((label ?? '').split(',').map((name) => name.trim()).filter(Boolean));
    } catch (error) {
      if (statusCodeOf(error) === 404) return undefined;
      throw error;
    }
  }

  private async imageExists(): Promise<boolean> {
    try {
      await this.docker.getImage(this.image).inspect();
      return true;
    } catch (error) {
      if (statusCodeOf(error) === 404) return false;
      throw error;
    }
  }

  /** A retry of the same session: the earlier attempt's container is stale. */
  private async removeEarlierAttempt(sessionId: string, name: string): Promise<void> {
    await this.destroyLiveAttempt(sessionId);
    await forceRemove(this.docker.getContainer(name));
  }

  /** An earlier attempt of this session that this process still runs. */
  private async destroyLiveAttempt(sessionId: string): Promise<void> {
    for (const sandbox of this.live.values()) {
      if (sandbox.sessionId === sessionId) await sandbox.destroy();
    }
  }

  private endpoint(): string {
    const modem = this.docker.modem as { socketPath?: unknown; host?: unknown; port?: unknown; protocol?: unknown };
    if (typeof modem.socketPath === 'string' && modem.socketPath) return `socket ${modem.socketPath}`;
    if (typeof modem.host === 'string' && modem.host) {
      const protocol = typeof modem.protocol === 'string' ? modem.protocol : 'http';
      return `${protocol}://${modem.host}${modem.port ? `:${String(modem.port)}` : ''}`;
    }
    return process.env.DOCKER_HOST ? `DOCKER_HOST=${process.env.DOCKER_HOST}` : 'the default socket /var/run/docker.sock';
  }
}


function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

interface BuildEvent {
  stream?: string;
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
}

/**
 * Reads Docker's JSON-lines build output, passing each line of text on, and resolves with the
 * build's own error text if it failed (undefined when it succeeded).
 */
function followBuild(output: Readable, onProgress?: ImageProgress): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    let pending = '';
    let buildError: string | undefined;
    const emit = (text: string) => {
      for (const line of text.split('\n')) {
        const trimmed = line.trimEnd();
        if (trimmed) onProgress?.(trimmed);
      }
    };
    const handle = (line: string) => {
      if (!line.trim()) return;
      let event: BuildEvent;
      try {
        event = JSON.parse(line) as BuildEvent;
      } catch {
        emit(line);
        return;
      }
      if (event.error || event.errorDetail?.message) {
        buildError ??= (event.errorDetail?.message ?? event.error ?? '').trim();
        emit(event.error ?? event.errorDetail?.message ?? '');
      } else if (event.stream) {
        emit(event.stream);
      } else if (event.status) {
        emit(event.status);
      }
    };
    output.setEncoding('utf8');
    output.on('data', (chunk: string) => {
      pending += chunk;
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        handle(pending.slice(0, newline));
        pending = pending.slice(newline + 1);
      }
    });
    output.on('end', () => {
      handle(pending);
      pending = '';
      resolve(buildError);
    });
    // A daemon that drops the connection mid-build ends the stream without 'end'.
    output.on('close', () => resolve(buildError ?? 'the Docker daemon closed the build output early'));
    output.on('error', (error) => reject(new Error(`The image build stream failed: ${error.message}`, { cause: error })));
  });
}
