import { createHash } from 'node:crypto';
import type Dockerode from 'dockerode';
import type { Logger } from '../../logger.js';
import type { Sandbox, SandboxLimits, WorkspaceSnapshotRequest } from '../runtime.js';
import { statusCodeOf } from './docker-sandbox.js';

export const SNAPSHOT_REPO_LABEL = 'telecoder.snapshot.repo';
export const SNAPSHOT_COMMIT_LABEL = 'telecoder.snapshot.commit';
/** The sandbox image the snapshot was made from: a rebuilt sandbox image makes it stale. */
export const SNAPSHOT_BASE_LABEL = 'telecoder.snapshot.base-image';

const CHECKOUT_TIMEOUT_MS = 10 * 60_000;

export interface WorkspaceSnapshotsOptions {
  docker: Dockerode;
  /** The sandbox image snapshots start from. */
  image: string;
  instanceLabel: string | undefined;
  /** Label filters that scope listings to this server (its instance label). */
  scopeFilters: string[];
  logger: Logger | undefined;
  /** Starts a sandbox like a session's (same hardening, no network) carrying these labels. */
  startSandbox(labels: Record<string, string>, limits: SandboxLimits): Promise<Sandbox>;
}

/**
 * Images of a repository's workspace, checked out at one commit, so the next session on that
 * commit starts with the files already there instead of copying and checking out the tree again
 * (for a big repository that is most of the time before the agent's first step). A snapshot is
 * made in a container of its own from the server's clone, never from a session's sandbox, so no
 * agent ever wrote to it. One per repository: a newer commit replaces it.
 */
export class WorkspaceSnapshots {
  readonly #options: WorkspaceSnapshotsOptions;
  readonly #making = new Map<string, Promise<void>>();

  constructor(options: WorkspaceSnapshotsOptions) {
    this.#options = options;
  }

  imageName(repo: string): string {
    const hash = createHash('sha256').update(`${this.#options.instanceLabel ?? ''}\0${repo}`).digest('hex').slice(0, 24);
    return `telecoder-workspace-${hash}`;
  }

  /**
   * For a sandbox of `repo` at `commit`: the snapshot image to start from, when there is one made
   * from the current sandbox image, and the labels that make a commit of the sandbox a valid
   * snapshot itself. One inspection of each image.
   */
  async lookup(repo: string, commit: string): Promise<{ reference: string | undefined; labels: Record<string, string>; baseId: string }> {
    const reference = `${this.imageName(repo)}:${commit}`;
    const [snapshot, base] = await Promise.all([
      this.#options.docker
        .getImage(reference)
        .inspect()
        .catch((error: unknown) => {
          if (statusCodeOf(error) === 404) return undefined;
          throw error;
        }),
      this.#options.docker.getImage(this.#options.image).inspect(),
    ]);
    const labels = { [SNAPSHOT_REPO_LABEL]: repo, [SNAPSHOT_COMMIT_LABEL]: commit, [SNAPSHOT_BASE_LABEL]: base.Id };
    const found = snapshot?.Config?.Labels ?? {};
    const current = found[SNAPSHOT_COMMIT_LABEL] === commit && found[SNAPSHOT_BASE_LABEL] === base.Id;
    return { reference: current ? reference : undefined, labels, baseId: base.Id };
  }

  /** Makes the snapshot unless it exists or is being made; failures are logged, never thrown. */
  make(request: WorkspaceSnapshotRequest): Promise<void> {
    const reference = `${this.imageName(request.repo)}:${request.commit}`;
    let pending = this.#making.get(reference);
    if (!pending) {
      pending = this.#make(request).catch((error: unknown) => {
        this.#options.logger?.warn({ err: error, repo: request.repo }, 'could not make a workspace snapshot; sessions copy the repository instead');
      });
      this.#making.set(reference, pending);
      void pending.finally(() => this.#making.delete(reference));
    }
    return pending;
  }

  /** This server's snapshots, one entry a repository. */
  async list(): Promise<Array<{ repo: string; name: string; bytes: number | null }>> {
    const images = await this.#options.docker.listImages({ filters: { label: [SNAPSHOT_REPO_LABEL, ...this.#options.scopeFilters] } });
    const byRepo = new Map<string, { repo: string; name: string; bytes: number | null }>();
    for (const image of images) {
      const repo = image.Labels?.[SNAPSHOT_REPO_LABEL];
      if (repo) byRepo.set(repo, { repo, name: this.imageName(repo), bytes: image.Size ?? null });
    }
    return [...byRepo.values()];
  }

  /** Removes every snapshot of a repository; one a running sandbox uses stays until it ends. */
  async remove(repo: string, options: { except?: string } = {}): Promise<void> {
    const images = await this.#options.docker.listImages({
      filters: { label: [`${SNAPSHOT_REPO_LABEL}=${repo}`, ...this.#options.scopeFilters] },
    });
    for (const image of images) {
      if (options.except && image.Labels?.[SNAPSHOT_COMMIT_LABEL] === options.except) continue;
      try {
        await this.#options.docker.getImage(image.Id).remove({ force: true });
      } catch (error) {
        const status = statusCodeOf(error);
        if (status !== 404 && status !== 409) throw error;
      }
    }
  }

  /**
   * Commits a running sandbox as the snapshot of `commit` (it was created with the snapshot labels,
   * so the image carries them). Replaces any snapshot of that commit and drops older ones.
   */
  async commitSandbox(sandbox: Sandbox, repo: string, commit: string): Promise<void> {
    const container = this.#options.docker.getContainer(sandbox.id);
    const info = await container.inspect();
    // The labels say what the image holds. Set here, not taken from the container: a sandbox from
    // the warm pool was made before anyone knew its commit. Its base is the image it started from.
    const labels = {
      [SNAPSHOT_REPO_LABEL]: repo,
      [SNAPSHOT_COMMIT_LABEL]: commit,
      [SNAPSHOT_BASE_LABEL]: info.Config.Labels?.[SNAPSHOT_BASE_LABEL] ?? info.Image,
    };
    const changes = Object.entries(labels).map(([key, value]) => `LABEL ${key}=${JSON.stringify(value)}`);
    // dockerode sends an array as repeated query parameters, which is how the API takes `changes`.
    await container.commit({ repo: this.imageName(repo), tag: commit, pause: true, changes });
    await this.remove(repo, { except: commit });
  }

  /** Waits for snapshots being made (tests, shutdown). */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.#making.values()]);
  }

  async #make(request: WorkspaceSnapshotRequest): Promise<void> {
    const { reference, labels } = await this.lookup(request.repo, request.commit);
    if (reference) return;
    const sandbox = await this.#options.startSandbox(labels, request.limits);
    try {
      await sandbox.putArchive(sandbox.workspace, request.archive());
      const checkout = await sandbox.exec([...request.checkout], { timeoutMs: CHECKOUT_TIMEOUT_MS, maxOutputBytes: 16 * 1024 });
      if (checkout.exitCode !== 0 || checkout.timedOut) {
        throw new Error(`checking out the snapshot failed (exit ${checkout.exitCode}): ${(checkout.stderr || checkout.stdout).trim().slice(0, 500)}`);
      }
      // The container's labels become the image's: the repository, the commit, the base image.
      await this.commitSandbox(sandbox, request.repo, request.commit);
    } finally {
      await sandbox.destroy().catch(() => undefined);
    }
    this.#options.logger?.info({ repo: request.repo, commit: request.commit }, 'workspace snapshot made');
  }
}
