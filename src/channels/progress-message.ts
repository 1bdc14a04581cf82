import type { Logger } from '../logger.js';

export interface ProgressMessageOptions {
  /** Writes the text into the message (the first call may post it). Throwing is logged, not fatal. */
  write(text: string): Promise<void>;
  /** Least time between two writes (Slack: about 1 s per channel; Telegram: batch every 2 s). */
  minIntervalMs: number;
  /** The platform's limit on a message's length (Telegram: 4096 characters). */
  maxLength: number;
  logger: Logger;
  now?: () => number;
}

/** Cuts `text` to `maxLength` characters, saying that it did. */
export function fitMessage(text: string, maxLength: number): string {
  if (text.length <= maxLength) return text;
  const marker = '\n… (cut)';
  let end = Math.max(0, maxLength - marker.length);
  // Lengths count UTF-16 units (as Telegram does): never keep half of an emoji's surrogate pair.
  if (end > 0 && /[\uD800-\uDBFF]/.test(text[end - 1]!)) end -= 1;
  return `${text.slice(0, end)}${marker}`;
}

/**
 * One message kept up to date in place, within a platform's rate limits: at most one write in
 * flight, writes at least `minIntervalMs` apart, always the latest text (what happened in
 * between is skipped, never queued), a text equal to the last one written is not sent again, and
 * the final text is always written.
 */
export class ProgressMessage {
  readonly #options: ProgressMessageOptions;
  #latest: string | undefined;
  #written: string | undefined;
  /** A text the platform refused: not sent again (a newer text is). */
  #refused: string | undefined;
  #lastWriteAt = 0;
  #inFlight: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #final = false;

  constructor(options: ProgressMessageOptions) {
    this.#options = options;
  }

  /** Shows `text` as soon as the rate allows. Ignored once finished. */
  update(text: string): void {
    if (this.#final) return;
    this.#latest = fitMessage(text, this.#options.maxLength);
    this.#schedule();
  }

  /** Shows `text` and stops taking updates; resolves once it is written (or failed). */
  async finish(text: string): Promise<void> {
    if (this.#final) return this.idle();
    this.#final = true;
    this.#latest = fitMessage(text, this.#options.maxLength);
    clearTimeout(this.#timer);
    this.#timer = undefined;
    // Finish waits only for a write in flight, never for the interval: the outcome is not delayed.
    await this.#inFlight;
    await this.#flush();
  }

  /** Resolves when nothing is scheduled or being written. */
  async idle(): Promise<void> {
    while (this.#inFlight || this.#timer) {
      await (this.#inFlight ?? new Promise((resolve) => setTimeout(resolve, 20)));
    }
  }

  #now(): number {
    return (this.#options.now ?? Date.now)();
  }

  #schedule(): void {
    if (this.#inFlight || this.#timer) return;
    const wait = this.#lastWriteAt + this.#options.minIntervalMs - this.#now();
    if (wait > 0) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        void this.#flush();
      }, wait);
      return;
    }
    void this.#flush();
  }

  async #flush(): Promise<void> {
    const text = this.#latest;
    if (text === undefined || text === this.#written || text === this.#refused || this.#inFlight) return;
    this.#lastWriteAt = this.#now();
    this.#inFlight = this.#options.write(text).then(
      () => {
        this.#written = text;
      },
      (error: unknown) => {
        this.#refused = text;
        this.#options.logger.warn({ err: error }, 'could not update a progress message');
      },
    );
    await this.#inFlight;
    this.#inFlight = undefined;
    // Something newer arrived while writing: it goes out when the interval allows.
    if (!this.#final && this.#latest !== this.#written && this.#latest !== this.#refused) this.#schedule();
  }
}
