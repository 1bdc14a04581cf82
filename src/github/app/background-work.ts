import type { Logger } from '../../logger.js';

/**
 * GitHub writes that need not delay a webhook's answer (a reaction, a refusal): started at once,
 * their failures logged, and awaitable as a whole when the server stops (and by tests). GitHub
 * spaces content-creating requests about a second apart, so awaiting them in the handler would
 * make a burst of deliveries miss GitHub's 10 s answer limit.
 */
export class BackgroundWork {
  readonly #pending = new Set<Promise<unknown>>();
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  run(what: string, work: () => Promise<unknown>): void {
    const promise = work()
      .catch((error: unknown) => this.#logger.warn({ err: error }, `GitHub: could not ${what}`))
      .finally(() => this.#pending.delete(promise));
    this.#pending.add(promise);
  }

  async idle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }
}
