/**
 * Spaces writes to one Slack channel (posts and edits alike) at least `intervalMs` apart, in the
 * order they were asked for. Slack allows about one message a second per channel: several
 * sessions reporting in one channel, or a status edit followed at once by the outcome, would
 * otherwise be throttled (and, past the burst Slack tolerates, dropped with 429s).
 */
export class ChannelPacer {
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #lanes = new Map<string, { tail: Promise<void>; lastAt: number }>();

  constructor(options: { intervalMs: number; now?: () => number }) {
    this.#intervalMs = options.intervalMs;
    this.#now = options.now ?? Date.now;
  }

  /** Runs `write` once the channel's previous writes are done and the interval has passed. */
  run<T>(channel: string, write: () => Promise<T>): Promise<T> {
    const lane = this.#lanes.get(channel) ?? { tail: Promise.resolve(), lastAt: 0 };
    const result = lane.tail.then(async () => {
      const wait = lane.lastAt + this.#intervalMs - this.#now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      lane.lastAt = this.#now();
      return write();
    });
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    lane.tail = tail;
    this.#lanes.set(channel, lane);
    // A quiet channel is forgotten once its interval has passed: the map stays as small as the activity.
    void tail.then(() =>
      setTimeout(() => {
        if (lane.tail === tail) this.#lanes.delete(channel);
      }, this.#intervalMs).unref(),
    );
    return result;
  }
}
