import { spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { setPriority } from 'node:os';
import type Dockerode from 'dockerode';

/** Measures what one sandbox container has written to disk so far. */
export interface DiskUsageMeter {
  /**
   * `host`: `du` of the container's overlay2 upper directory and its volumes, read by this server
   * (blocks really used; the engine does no work). `engine`: the engine's SizeRw of the writable
   * layer (apparent sizes; the engine walks the layer; volumes are not counted).
   */
  readonly method: 'host' | 'engine';
  /** Bytes written: the writable layer, plus what each volume grew by since the meter was made. */
  measure(): Promise<number>;
}

export interface DiskUsageMeterOptions {
  container: Dockerode.Container;
  /** Measure through the engine even where the host's storage is readable (tests of the fallback). */
  engineOnly?: boolean;
}

/**
 * Picks the cheapest way to measure a container's disk use here: reading Docker's storage
 * directly when this server can (it runs on the Docker host with access to its data root, e.g. as
 * root), otherwise asking the engine. Neither needs anything from inside the container, where the
 * agent could hide files from a measurement (a directory it made unreadable, say).
 */
export async function diskUsageMeter(options: DiskUsageMeterOptions): Promise<DiskUsageMeter> {
  const { container } = options;
  const info = await container.inspect();
  // The overlay2 driver names its directories here; the types only know devicemapper's fields.
  const driverData = info.GraphDriver?.Data as Record<string, string | undefined> | undefined;
  const upper = info.GraphDriver?.Name === 'overlay2' ? driverData?.UpperDir : undefined;
  const volumes = (info.Mounts ?? []).filter((mount) => mount.Type === 'volume' && mount.Source).map((mount) => mount.Source);
  if (!options.engineOnly && upper && (await allReadable([upper, ...volumes]))) {
    const first = await du([upper, ...volumes]).catch(() => undefined);
    if (first) {
      // A volume (the repository's dependency cache) outlives the sandbox and starts full: only
      // its growth is this sandbox's writing.
      const baseline = first.slice(1);
      return {
        method: 'host',
        async measure() {
          const [layer = 0, ...grown] = await du([upper, ...volumes]);
          return grown.reduce((total, bytes, index) => total + Math.max(0, bytes - (baseline[index] ?? 0)), layer);
        },
      };
    }
  }
  return {
    method: 'engine',
    async measure() {
      // `size=1` makes the engine walk the writable layer; dockerode's types do not list it.
      const inspect = container.inspect.bind(container) as (options: { size: boolean }) => Promise<{ SizeRw?: number }>;
      const sized = await inspect({ size: true });
      return sized.SizeRw ?? 0;
    },
  };
}

async function allReadable(paths: string[]): Promise<boolean> {
  try {
    await Promise.all(paths.map((path) => access(path, constants.R_OK | constants.X_OK)));
    return true;
  } catch {
    return false;
  }
}

/**
 * Bytes on disk under each path, in order (`du -s -B1 -x`: blocks really used, each hard-linked
 * file once, not crossing into other mounts). du exits 1 when a file vanishes mid-walk, which a
 * busy build does all the time; its totals are still right for what is left, so they count.
 */
function du(paths: string[]): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const child = spawn('du', ['-s', '-B1', '-x', '--', ...paths], { stdio: ['ignore', 'pipe', 'ignore'] });
    // Measuring is housekeeping: let the sandboxes' own work come first.
    if (child.pid !== undefined) {
      try {
        setPriority(child.pid, 10);
      } catch {
        // Not allowed here, or du already ended: it still measures.
      }
    }
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => (out += chunk));
    child.once('error', reject);
    child.once('close', (code) => {
      const sizes = out
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => Number.parseInt(line, 10));
      if (sizes.length !== paths.length || sizes.some((size) => !Number.isFinite(size))) {
        reject(new Error(`du of the sandbox's storage failed (exit ${code}); got ${JSON.stringify(out.slice(0, 200))}`));
        return;
      }
      resolve(sizes);
    });
  });
}
