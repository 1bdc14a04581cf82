import { describe, expect, it } from 'vitest';
import type { DiskUsageMeter } from '../../src/sandbox/docker/disk-usage.js';
import { DiskWatchdog } from '../../src/sandbox/docker/disk-watchdog.js';

/** A meter that reads the given values in turn (the last one forever), taking `costMs` each time. */
function meterOf(values: number[], costMs = 0) {
  const calls: number[] = [];
  const meter: DiskUsageMeter = {
    method: 'host',
    async measure() {
      calls.push(Date.now());
      await new Promise((resolve) => setTimeout(resolve, costMs));
      const value = values.length > 1 ? values.shift()! : values[0]!;
      if (Number.isNaN(value)) throw new Error('measurement failed');
      return value;
    },
  };
  return { meter, calls };
}

function watch(meter: DiskUsageMeter, intervalMs: number) {
  const exceeded: number[] = [];
  const watchdog = new DiskWatchdog({
    limitBytes: 100,
    meter: async () => meter,
    onExceeded: (used) => exceeded.push(used),
    intervalMs,
    sessionId: 'test',
  });
  watchdog.start();
  return { watchdog, exceeded };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('DiskWatchdog', () => {
  it('reports the first measurement past the limit, once, and then stops measuring', async () => {
    const { meter, calls } = meterOf([10, 50, 100, 150, 300]);
    const { exceeded } = watch(meter, 20);
    await sleep(400);
    // 100 is at the limit, not past it.
    expect(exceeded).toEqual([150]);
    expect(calls).toHaveLength(4);
  });

  it('keeps measuring after a failed measurement', async () => {
    const { meter } = meterOf([Number.NaN, Number.NaN, 500]);
    const { exceeded } = watch(meter, 20);
    await sleep(300);
    expect(exceeded).toEqual([500]);
  });

  it('measures a slow-to-measure sandbox less often (a measurement takes at most 5% of the time)', async () => {
    const { meter, calls } = meterOf([1], 30);
    const { watchdog } = watch(meter, 20);
    await sleep(1_500);
    watchdog.stop();
    // 30 ms a measurement: at most one every 600 ms, so 3 in 1.5 s (not 30 at the 20 ms interval).
    expect(calls.length).toBeGreaterThanOrEqual(2);
    expect(calls.length).toBeLessThanOrEqual(3);
  });

  it('stops measuring when stopped', async () => {
    const { meter, calls } = meterOf([1]);
    const { watchdog, exceeded } = watch(meter, 20);
    await sleep(100);
    watchdog.stop();
    const seen = calls.length;
    await sleep(200);
    expect(calls.length).toBe(seen);
    expect(exceeded).toEqual([]);
  });
});
