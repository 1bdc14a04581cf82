import type { Logger } from '../../logger.js';

export interface ReconnectingOptions {
  /** One attempt: resolves once connected, rejects with why it could not. */
  connect(): Promise<void>;
  /** Why an attempt failed, in words an operator can act on. */
  describe(error: unknown): string;
  logger: Logger;
  /** First wait after a failure; doubled each time up to `maxDelayMs`. */
  firstDelayMs: number;
  maxDelayMs: number;
}

/**
 * Keeps a connection up in the background: the first attempt at start, a later one after each
 * failure or drop, waiting longer each time (up to a ceiling), logging why. A platform that
 * cannot be reached never fails the server; it only leaves its door closed until it can.
 */
export class Reconnecting {
  readonly #options: ReconnectingOptions;
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  #connecting = false;
  #stopped = false;
  #connected = false;

  constructor(options: ReconnectingOptions) {
    this.#options = options;
  }

  get connected(): boolean {
    return this.#connected;
  }

  /** Starts connecting; resolves after the first attempt, whether it connected or not. */
  async start(): Promise<void> {
    this.#stopped = false;
    await this.#attempt();
  }

  /** The live connection dropped: connect again (soon, then with backoff). */
  dropped(): void {
    this.#connected = false;
    if (this.#stopped || this.#connecting || this.#timer) return;
    this.#options.logger.warn('the Slack connection dropped; connecting again');
    this.#schedule(this.#options.firstDelayMs);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async #attempt(): Promise<void> {
    if (this.#stopped) return;
    this.#connecting = true;
    try {
      await this.#options.connect();
      this.#connecting = false;
      if (this.#failures > 0) this.#options.logger.info({ failures: this.#failures }, 'Slack door connected after all');
      this.#failures = 0;
      this.#connected = true;
    } catch (error) {
      this.#connecting = false;
      if (this.#stopped) return;
      const delay = Math.min(this.#options.maxDelayMs, this.#options.firstDelayMs * 2 ** this.#failures);
      this.#failures += 1;
      this.#options.logger.warn(
        { retryInMs: delay, attempts: this.#failures },
        `the Slack door cannot connect: ${this.#options.describe(error)}. Trying again in ${Math.round(delay / 1000)} s`,
      );
      this.#schedule(delay);
    }
  }

  #schedule(delay: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#attempt();
    }, delay);
    // A retry timer alone keeps no process alive.
    this.#timer.unref();
  }
}
