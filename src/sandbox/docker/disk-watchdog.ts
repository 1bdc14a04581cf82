import type { Logger } from '../../logger.js';
import type { DiskUsageMeter } from './disk-usage.js';

export interface DiskWatchdogOptions {
  limitBytes: number;
  /** Made once, when watching starts (it inspects the container). */
  meter: () => Promise<DiskUsageMeter>;
  /** Called once, with the bytes measured, when they pass the limit. */
  onExceeded: (usedBytes: number) => void;
  /** Time between measurements; it grows for a sandbox that is slow to measure (see below). */
  intervalMs: number;
  logger?: Logger | undefined;
  sessionId: string;
}

/**
 * A measurement may take at most this share of the time between two, so a sandbox with a huge
 * tree (half a million files: a second of `du`) is measured less often instead of loading the host.
 */
const MAX_BUSY_SHARE = 0.05;

/**
 * Enforces a sandbox's disk limit where the storage driver cannot (overlay2 on ext4 has no
 * `storage-opt size`): measures what the sandbox wrote every few seconds and reports the first
 * measurement past the limit. A burst between two measurements can overshoot by what the disk
 * writes in that time, so the limit is where the sandbox dies, not a wall it cannot pass.
 */
export class DiskWatchdog {
  private readonly options: DiskWatchdogOptions;
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private stopped = false;
  private warned = false;

  constructor(options: DiskWatchdogOptions) {
    this.options = options;
  }

  start(): void {
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.wake?.();
  }

  private async run(): Promise<void> {
    const { options } = this;
    let meter: DiskUsageMeter;
    try {
      meter = await options.meter();
    } catch (error) {
      // Gone already (it stopped as soon as it started), or the engine did not answer.
      if (!this.stopped) {
        options.logger?.warn({ sessionId: options.sessionId, err: error }, 'cannot measure the sandbox disk use; its disk limit is not enforced');
      }
      return;
    }
    options.logger?.debug({ sessionId: options.sessionId, method: meter.method }, 'watching sandbox disk use');
    while (!this.stopped) {
      const started = Date.now();
      try {
        const used = await meter.measure();
        if (this.stopped) return;
        if (used > options.limitBytes) {
          this.stopped = true;
          options.onExceeded(used);
          return;
        }
      } catch (error) {
        // The container is going away, or one measurement failed: try again next time.
        if (!this.warned && !this.stopped) {
          this.warned = true;
          options.logger?.warn({ sessionId: options.sessionId, err: error }, 'a sandbox disk measurement failed; retrying');
        }
      }
      const cost = Date.now() - started;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        this.timer = setTimeout(resolve, Math.max(options.intervalMs, cost / MAX_BUSY_SHARE));
        // A server shutting down does not wait for it.
        this.timer.unref();
      });
    }
  }
}
