import { randomBytes } from 'node:crypto';

export const SETUP_TICKET_TTL_MS = 30 * 60 * 1000;

export interface SetupTicketsOptions {
  /** How long a ticket stays valid; default 30 minutes. */
  ttlMs?: number;
  /** Most tickets kept at once (the oldest go first): page reloads must not grow memory. */
  max?: number;
  now?: () => number;
}

/**
 * Random one-time values that the setup pages hand out to whoever is allowed to use them (a
 * browser's setup cookie, a link minted with the API token, the `state` GitHub sends back).
 * They live in memory only: a restart ends every registration under way, which is what a
 * person restarting a half-configured server expects.
 */
export class SetupTickets {
  readonly ttlMs: number;
  readonly #max: number;
  readonly #now: () => number;
  /** ticket → expiry; Map keeps insertion order, so the first entry is the oldest. */
  readonly #live = new Map<string, number>();

  constructor(options: SetupTicketsOptions = {}) {
    this.ttlMs = options.ttlMs ?? SETUP_TICKET_TTL_MS;
    this.#max = options.max ?? 32;
    this.#now = options.now ?? Date.now;
  }

  mint(): string {
    this.#dropExpired();
    while (this.#live.size >= this.#max) this.#live.delete(this.#live.keys().next().value as string);
    const ticket = randomBytes(32).toString('base64url');
    this.#live.set(ticket, this.#now() + this.ttlMs);
    return ticket;
  }

  isLive(ticket: string | null | undefined): ticket is string {
    if (!ticket) return false;
    const expires = this.#live.get(ticket);
    if (expires === undefined) return false;
    if (expires <= this.#now()) {
      this.#live.delete(ticket);
      return false;
    }
    return true;
  }

  /** Ends a ticket; true when it was live (so two requests racing with one ticket: one wins). */
  consume(ticket: string | null | undefined): boolean {
    const live = this.isLive(ticket);
    if (ticket) this.#live.delete(ticket);
    return live;
  }

  #dropExpired(): void {
    const now = this.#now();
    for (const [ticket, expires] of this.#live) if (expires <= now) this.#live.delete(ticket);
  }
}
