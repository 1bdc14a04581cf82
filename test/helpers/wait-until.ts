export interface WaitUntilOptions {
  /** Default 60 s. */
  timeoutMs?: number;
  /** How often the probe is asked; default 100 ms. */
  intervalMs?: number;
}

/** Polls `probe` until it is true; throws "timed out waiting for <what>" past the deadline. */
export async function waitUntil(what: string, probe: () => boolean | Promise<boolean>, options: WaitUntilOptions = {}): Promise<void> {
  const { timeoutMs = 60_000, intervalMs = 100 } = options;
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
