import type { Duplex, Readable } from 'node:stream';

export interface SandboxLimits {
  /** Bytes of memory (hard limit, swap included). */
  memoryBytes: number;
  /** CPUs, fractional allowed (1.5 = one and a half cores). */
  cpus: number;
  /** Maximum number of processes and threads inside the sandbox. */
  pids: number;
  /** The sandbox is killed this long after it starts, whatever it is doing. */
  wallClockMs: number;
  /**
   * Bytes the sandbox may write: its writable layer (workspace, /tmp, …) plus what its dependency
   * cache grew by. Past it the sandbox is killed (exit reason `disk`). Undefined: no limit.
   */
  diskBytes?: number;
}

export interface SandboxSpec {
  sessionId: string;
  /**
   * `egress`: what the runtime's egress policy allows (TELECODER_EGRESS), enforced outside the
   * sandbox; `none`: no network at all.
   */
  network: SandboxNetwork;
  /** Told of requests the egress policy refused, once per host, so a session can say why an install failed. */
  onEgressBlocked?: (blocked: BlockedEgress) => void;
  limits: SandboxLimits;
  /** Extra labels; the runtime always adds its own ownership labels. */
  labels?: Record<string, string>;
  /**
   * The repository's dependency cache, mounted where the package managers keep theirs. One per
   * repository and never shared between repositories: an agent could poison what it can write.
   */
  cache?: { repo: string };
  /**
   * Start from a snapshot of this repository checked out at this commit, when the runtime has one
   * (Sandbox.workspacePrepared then says so and the caller copies nothing in).
   */
  workspace?: { repo: string; commit: string };
}

export type SandboxNetwork = 'egress' | 'none';

/**
 * A sandbox as a session would ask for it, without the session: what a runtime can make ahead of
 * time (Runtime.warm). `workspace` names the commit whose snapshot the sandbox would start from.
 */
export type WarmRequest = Pick<SandboxSpec, 'network' | 'limits' | 'cache' | 'workspace'>;

/** A request from a sandbox that the egress policy refused. */
export interface BlockedEgress {
  /** The host name (or address) the sandbox asked for. */
  host: string;
  port: number;
  /** `not-allowed`: not a registry or allowed host (TELECODER_EGRESS_ALLOW can add it); `address`: an address no policy reaches. */
  reason: 'not-allowed' | 'address';
  /** Why, in words (which address, which range). */
  detail: string;
}

export interface ExecOptions {
  /** Kill the command after this long; the result then has timedOut = true. */
  timeoutMs: number;
  /** Working directory inside the sandbox; default the workspace. */
  cwd?: string;
  /** Extra environment for this command only. Never pass a secret here. */
  env?: Record<string, string>;
  /** Stop collecting output beyond this many bytes per stream (the rest is counted, not kept). */
  maxOutputBytes?: number;
  signal?: AbortSignal;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** True when output beyond maxOutputBytes was dropped. */
  truncated: boolean;
}

/** A command whose stdout is handed over as it comes (Sandbox.execStream). */
export interface ExecStream {
  /**
   * The command's stdout, byte for byte. Reading slowly slows the command down (nothing piles up
   * on the server); destroying the stream kills the command.
   */
  stdout: Readable;
  /**
   * Settles once the command has ended: its exit code, its stderr (cut at the exec's
   * maxOutputBytes) and whether it timed out. Rejects when the sandbox stopped or the exec was
   * aborted. The caller reads stdout to its end (or destroys it) for this to settle.
   */
  result: Promise<Omit<ExecResult, 'stdout' | 'truncated'>>;
}

/** One running sandbox. All paths are inside the sandbox. */
export interface Sandbox {
  readonly id: string;
  readonly sessionId: string;
  /** Where the repository lives inside the sandbox. */
  readonly workspace: string;
  /**
   * True when the sandbox already holds the requested checkout: it started from a workspace
   * snapshot, or a warm pool checked the repository out in it before the session took it.
   */
  readonly workspacePrepared: boolean;
  /** Where a prepared workspace came from, in words for the session's events (default: the snapshot). */
  readonly preparedFrom?: string;
  /** Runs argv directly (no shell) as the sandbox's unprivileged user. */
  exec(argv: string[], options: ExecOptions): Promise<ExecResult>;
  /**
   * Runs argv like exec, but streams stdout instead of collecting it (maxOutputBytes caps only
   * stderr): for output too large to hold in memory, like the patch of a change. Resolves once
   * the command has started.
   */
  execStream(argv: string[], options: ExecOptions): Promise<ExecStream>;
  /**
   * Extracts a tar stream into `dir`. Only for a sandbox nothing untrusted has run in yet (the
   * workspace copy into a fresh sandbox): Docker extracts as root and follows symbolic links in
   * the container, so after the agent ran use writeFile, which writes as the sandbox user.
   */
  putArchive(dir: string, tar: Readable): Promise<void>;
  /**
   * Variables every later exec gets, under its own `env` (a workspace's virtualenv, say). Merged
   * over what was set before; never pass a secret here.
   */
  setDefaultEnv(vars: Record<string, string>): void;
  /**
   * Writes one file as the sandbox user, creating parent directories; refuses a path with a
   * symbolic link in it, keeps the mode of a file it replaces (new files 0644).
   */
  writeFile(path: string, content: Buffer | string): Promise<void>;
  /**
   * Serves connections made inside the sandbox to 127.0.0.1:`port`: each is handed to
   * `onConnection` on the server as a Duplex. The server listens on nothing for this, so nothing
   * outside this sandbox can connect. Resolves once the port is listening inside the sandbox.
   * Optional: a runtime without it cannot run external agents.
   */
  serveLoopbackPort?(port: number, onConnection: (socket: Duplex) => void): Promise<LoopbackService>;
  /** Resolves when the sandbox stops running, with the reason (exit, OOM, wall-clock or disk limit). */
  readonly exited: Promise<SandboxExit>;
  /** Kills and removes the sandbox. Safe to call more than once. */
  destroy(): Promise<void>;
}

/** A sandbox port served by the server (Sandbox.serveLoopbackPort). */
export interface LoopbackService {
  /** Stops listening inside the sandbox and ends open connections. Safe to call twice. */
  close(): Promise<void>;
  /** Settles when the service ended: undefined after close(), else the error that ended it. */
  readonly ended: Promise<Error | undefined>;
}

export interface SandboxExit {
  exitCode: number;
  oomKilled: boolean;
  reason: 'exited' | 'oom' | 'wall-clock' | 'disk' | 'killed' | 'removed';
}

export interface ManagedSandbox {
  id: string;
  sessionId: string;
  running: boolean;
}

export interface ImageProgress {
  (line: string): void;
}

/** A repository's dependency cache (npm, pip, Go, cargo …), kept between its sessions. */
export interface DependencyCacheInfo {
  repo: string;
  /** The runtime's name for it (a Docker volume). */
  name: string;
  /** Size on disk, when the runtime can tell. */
  bytes: number | null;
}

/** Creates and tracks sandboxes. */
export interface Runtime {
  /** Fails with an actionable message when the runtime (e.g. the Docker daemon) is unreachable. */
  ping(): Promise<void>;
  /** Makes sure the sandbox image exists, building it when it is missing. */
  ensureImage(onProgress?: ImageProgress): Promise<void>;
  create(spec: SandboxSpec): Promise<Sandbox>;
  /** Every sandbox this runtime created that still exists, running or not. */
  listManaged(): Promise<ManagedSandbox[]>;
  /** Kills and removes a sandbox by id (used by start-up sweeps and stop). */
  remove(id: string): Promise<void>;
  /** The dependency caches this runtime keeps (SandboxSpec.cache). */
  listCaches(): Promise<DependencyCacheInfo[]>;
  /** Deletes a repository's dependency cache (and workspace snapshots); its next session starts with none. */
  removeCache(repo: string): Promise<void>;
  /**
   * Makes a snapshot of the repository checked out at `commit` for later sandboxes (see
   * SandboxSpec.workspace), in a sandbox of its own where no agent runs. Optional; never throws.
   */
  snapshotWorkspace?(request: WorkspaceSnapshotRequest): Promise<void>;
  /**
   * Saves this sandbox as the repository's workspace snapshot at `commit` (what later sandboxes
   * of that commit start from). Only call it before any agent ran in the sandbox. Optional.
   */
  snapshotSandbox?(sandbox: Sandbox, target: { repo: string; commit: string }): Promise<void>;
  /**
   * Removes what earlier runs left besides sandboxes (networks, the egress proxy). Called at
   * start-up after the orphaned sandboxes are removed. Optional.
   */
  sweep?(): Promise<void>;
  /**
   * The coding-agent CLIs the sandbox image carries (its `telecoder.coding-agents` label), or
   * undefined when that is not known yet (the image is built at the first session). Optional.
   */
  installedAgents?(): Promise<ReadonlySet<string> | undefined>;
  /**
   * Prepares in the background what the next sandboxes need (called after the sweep): sandboxes
   * made ahead of time for the requests given, most likely first (the warm pool). Optional.
   */
  warm?(likely?: readonly WarmRequest[]): void;
  /**
   * Tells the runtime what was copied into a sandbox it created, before anything else ran in it.
   * A warm pool makes the next sandbox of that repository and commit with it already in place
   * (Sandbox.workspacePrepared); until a sandbox copied into is offered, the pool does not follow
   * its repository. Optional.
   */
  offerWorkspace?(sandbox: Sandbox, offer: WorkspaceOffer): void;
  /** Lets go of what the runtime runs besides sandboxes (the egress proxy). Called at shutdown. Optional. */
  close?(): Promise<void>;
}

/** What a session copied into its sandbox (Runtime.offerWorkspace). */
export interface WorkspaceOffer {
  /** The tar the workspace was copied in as (its .git); undefined when it was too big to keep. */
  archive: Buffer | undefined;
  /** The command that wrote the files from it, run in the workspace, and its environment. */
  checkout: readonly string[];
  env: Readonly<Record<string, string>>;
}

export interface WorkspaceSnapshotRequest {
  repo: string;
  commit: string;
  /** The repository (its .git) as a tar stream for the workspace; called once. */
  archive: () => Readable;
  /** The command that writes the files from it, run in the workspace. */
  checkout: readonly string[];
  limits: SandboxLimits;
}
