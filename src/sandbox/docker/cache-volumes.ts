import { createHash } from 'node:crypto';
import type Dockerode from 'dockerode';
import type { DependencyCacheInfo } from '../runtime.js';
import { statusCodeOf } from './docker-sandbox.js';

/** Where the sandbox image points every package manager's cache (see sandbox/Dockerfile). */
export const CACHE_MOUNT_PATH = '/home/sandbox/.cache';
export const CACHE_LABEL = 'telecoder.cache';
export const CACHE_REPO_LABEL = 'telecoder.cache.repo';

/**
 * A repository's dependency cache volume name. The repository and this server's instance both go
 * into the hash: two repositories never share a cache (one agent could poison the other's
 * packages), and two servers on one engine never share one either.
 */
export function cacheVolumeName(instance: string | undefined, repo: string): string {
  const hash = createHash('sha256').update(`${instance ?? ''}\0${repo}`).digest('hex').slice(0, 24);
  return `telecoder-cache-${hash}`;
}

/** Creates the volume unless it exists; labelled so it can be listed and pruned. */
export async function ensureCacheVolume(docker: Dockerode, name: string, labels: Record<string, string>): Promise<void> {
  try {
    await docker.getVolume(name).inspect();
    return;
  } catch (error) {
    if (statusCodeOf(error) !== 404) throw error;
  }
  // Creating an existing volume with the same name is a no-op for the local driver: races are fine.
  await docker.createVolume({ Name: name, Labels: labels });
}

/** This server's cache volumes, with their size when Docker reports it. */
export async function listCacheVolumes(docker: Dockerode, labelFilters: string[]): Promise<DependencyCacheInfo[]> {
  const listed = await docker.listVolumes({ filters: { label: [`${CACHE_LABEL}=true`, ...labelFilters] } });
  const volumes = listed.Volumes ?? [];
  if (volumes.length === 0) return [];
  // `docker system df -v` is the one API that sizes volumes; it walks them, so ask once.
  const sizes = new Map<string, number>();
  try {
    const usage = (await docker.df()) as { Volumes?: Array<{ Name: string; UsageData?: { Size?: number } }> };
    for (const volume of usage.Volumes ?? []) {
      if (typeof volume.UsageData?.Size === 'number' && volume.UsageData.Size >= 0) sizes.set(volume.Name, volume.UsageData.Size);
    }
  } catch {
    // Sizes are a nicety; the list is what matters.
  }
  return volumes.map((volume) => ({
    repo: volume.Labels?.[CACHE_REPO_LABEL] ?? '(unknown)',
    name: volume.Name,
    bytes: sizes.get(volume.Name) ?? null,
  }));
}

/** Removes a cache volume; a volume a running sandbox still uses is refused with a clear error. */
export async function removeCacheVolume(docker: Dockerode, name: string, repo: string): Promise<void> {
  try {
    await docker.getVolume(name).remove();
  } catch (error) {
    const status = statusCodeOf(error);
    if (status === 404) return;
    if (status === 409) {
      throw new Error(`the dependency cache of ${repo} is in use by a running sandbox; prune it when that session has ended`, { cause: error });
    }
    throw error;
  }
}
