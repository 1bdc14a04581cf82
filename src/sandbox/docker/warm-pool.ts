import type { Logger } from '../../logger.js';
import type { WarmRequest } from '../runtime.js';
import type { SandboxClaims } from '../sandbox-claims.js';

/**
 * What makes two sandboxes interchangeable. Docker fixes a container's image, mounts, network
 * and limits when it is created, so a sandbox made ahead of time can serve only a session that
 * would have been given exactly the same container.
 */
export interface WarmKey {
  /** The repository whose dependency cache is mounted ('' when none is). */
  repo: string;
  /** Everything every sandbox of this server shares: image id, limits, network. A change drains the pool. */
  shape: string;
  /** The whole key (shape, cache, the snapshot image started from). */
  full: string;
}

/** A sandbox made ahead of time, waiting for a session. */
export interface WarmMember {
  readonly id: string;
  /** Settles when the sandbox stopped running (killed, Docker restarted, …). */
  readonly exited: Promise<unknown>;
  destroy(): Promise<void>;
}

export interface WarmPoolOptions<M extends WarmMember> {
  /** How many sandboxes are kept ready (TELECODER_WARM_SANDBOXES); 0 turns the pool off. */
  size: number;
  /** A sandbox waiting longer than this is replaced: its own wall-clock backstop started at creation. */
  maxIdleMs: number;
  /** The key a sandbox made for this request would have; throws when it cannot be known (no image, no Docker). */
  keyOf(request: WarmRequest): Promise<WarmKey>;
  /** Makes and starts a sandbox for no session yet. */
  make(request: WarmRequest, key: WarmKey): Promise<M>;
  /** Where a claim is recorded; a sandbox another session claimed is never handed out. */
  claims: SandboxClaims;
  logger?: Logger | undefined;
  /** Waits after a failed make before the next try (Docker down, say); the last one repeats. */
  retryDelaysMs?: readonly number[];
  /**
   * How long after a session took a sandbox (or asked for one) the pool starts making the next:
   * the session's own start does not share the machine with it. Default 1 s.
   */
  refillDelayMs?: number;
}

interface Wanted {
  request: WarmRequest;
  key: WarmKey;
}

interface Idle<M> {
  member: M;
  key: string;
  madeAt: number;
}

/** Thrown by `make` when the request's key changed since it was asked for (a snapshot was made, the image rebuilt). */
export class WarmKeyChangedError extends Error {
  constructor() {
    super('what a sandbox for this request starts from changed; the pool looks its keys up again');
    this.name = 'WarmKeyChangedError';
  }
}

const DEFAULT_RETRY_DELAYS_MS = [2_000, 10_000, 30_000, 60_000];
const DEFAULT_REFILL_DELAY_MS = 1_000;

/**
 * Sandboxes created and started before their session exists, so a session starts without
 * waiting for Docker to create one. Which sandboxes: those the most recent sessions' repositories
 * would get (their dependency cache mounted, their workspace snapshot when there is one), one per
 * repository, newest first, `size` in all. A session takes one whose key matches its own, claims
 * it in the store, and the pool makes a replacement in the background, one at a time, off any
 * session's path. A request with another image, other limits or another network drains the rest.
 */
export class WarmPool<M extends WarmMember> {
  readonly #options: WarmPoolOptions<M>;
  readonly #retryDelays: readonly number[];
  /** Newest first; at most `size` repositories. */
  #wanted: Wanted[] = [];
  readonly #idle: Array<Idle<M>> = [];
  #reconciling: Promise<void> | undefined;
  #again = false;
  #failures = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  /** A refill waiting out refillDelayMs, and what settles when it has started. */
  #refill: { timer: NodeJS.Timeout; started: Promise<void>; start: () => void } | undefined;
  readonly #idleTimers = new Map<M, NodeJS.Timeout>();
  #closed = false;

  constructor(options: WarmPoolOptions<M>) {
    this.#options = options;
    this.#retryDelays = options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
  }

  get size(): number {
    return this.#options.size;
  }

  /** Sandboxes ready to be taken, by full key (for logs, tests and the benchmark). */
  ready(): string[] {
    return this.#idle.map((idle) => idle.key);
  }

  /**
   * Hands a ready sandbox with this key to `sessionId`, recording the claim first, or undefined
   * when there is none. Synchronous up to the claim: two sessions asking at once never get the
   * same sandbox, and the store refuses a second claim of one even if they did.
   */
  take(key: string, sessionId: string): M | undefined {
    if (this.#closed) return undefined;
    for (;;) {
      const index = this.#idle.findIndex((idle) => idle.key === key);
      if (index < 0) return undefined;
      const [idle] = this.#idle.splice(index, 1);
      this.#forgetTimer(idle!.member);
      if (this.#options.claims.claim(idle!.member.id, sessionId)) {
        this.#scheduleRefill();
        return idle!.member;
      }
      // Claimed already: not ours to give, and not ours to keep.
      this.#options.logger?.error({ sandbox: idle!.member.id, session: sessionId }, 'a warm sandbox was claimed twice; it is left to its owner');
    }
  }

  /**
   * Records what a session just asked for: its repository moves to the front, and what the
   * pool keeps changes with it. Requests for another image, other limits or network replace
   * every older one.
   */
  want(request: WarmRequest, key: WarmKey): void {
    if (this.#options.size === 0 || this.#closed) return;
    const others = this.#wanted.filter((wanted) => wanted.key.repo !== key.repo && wanted.key.shape === key.shape);
    this.#wanted = [{ request, key }, ...others].slice(0, this.#options.size);
    this.#scheduleRefill();
  }

  /** Asks for the keys again (a snapshot was made, the image changed) and makes what is now missing. */
  async refresh(): Promise<void> {
    if (this.#options.size === 0 || this.#closed) return;
    const refreshed: Wanted[] = [];
    for (const wanted of this.#wanted) {
      try {
        refreshed.push({ request: wanted.request, key: await this.#options.keyOf(wanted.request) });
      } catch (error) {
        this.#options.logger?.debug({ err: error }, 'could not look up a warm sandbox key');
      }
    }
    const shape = refreshed[0]?.key.shape;
    this.#wanted = refreshed.filter((wanted) => wanted.key.shape === shape);
    this.#schedule();
  }

  /** Stops making sandboxes, waits for one being made and removes every ready one. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    if (this.#refill) {
      clearTimeout(this.#refill.timer);
      this.#refill.start();
      this.#refill = undefined;
    }
    await this.#reconciling;
    const idle = this.#idle.splice(0);
    for (const { member } of idle) this.#forgetTimer(member);
    await Promise.allSettled(idle.map(({ member }) => member.destroy()));
  }

  /** Resolves once the pool holds what it wants, or gave up for now (tests, the benchmark). */
  async settled(): Promise<void> {
    while (this.#refill || this.#reconciling) {
      await this.#refill?.started;
      await this.#reconciling;
    }
  }

  /** Reconciles after refillDelayMs (once, however many ask meanwhile). */
  #scheduleRefill(): void {
    if (this.#closed || this.#refill) return;
    const delay = this.#options.refillDelayMs ?? DEFAULT_REFILL_DELAY_MS;
    let start!: () => void;
    const started = new Promise<void>((resolve) => (start = resolve));
    const timer = setTimeout(() => {
      this.#refill = undefined;
      this.#schedule();
      start();
    }, delay);
    timer.unref();
    this.#refill = { timer, started, start };
  }

  #schedule(): void {
    if (this.#closed) return;
    if (this.#reconciling) {
      this.#again = true;
      return;
    }
    this.#reconciling = this.#reconcile().finally(() => {
      this.#reconciling = undefined;
      if (this.#again) {
        this.#again = false;
        this.#schedule();
      }
    });
  }

  /** How many of each key the pool should hold: `size` slots dealt round the wanted keys, newest first. */
  #quota(): Map<string, { count: number; wanted: Wanted }> {
    const quota = new Map<string, { count: number; wanted: Wanted }>();
    if (this.#wanted.length === 0) return quota;
    for (let slot = 0; slot < this.#options.size; slot++) {
      const wanted = this.#wanted[slot % this.#wanted.length]!;
      const entry = quota.get(wanted.key.full) ?? { count: 0, wanted };
      entry.count++;
      quota.set(wanted.key.full, entry);
    }
    return quota;
  }

  async #reconcile(): Promise<void> {
    // Remove what is no longer wanted first, so the pool never holds more than its size.
    const quota = this.#quota();
    const kept = new Map<string, number>();
    const surplus: Array<Idle<M>> = [];
    for (const idle of this.#idle) {
      const count = (kept.get(idle.key) ?? 0) + 1;
      if (count > (quota.get(idle.key)?.count ?? 0)) surplus.push(idle);
      else kept.set(idle.key, count);
    }
    for (const idle of surplus) this.#drop(idle, 'no longer wanted');
    await Promise.allSettled(surplus.map(({ member }) => member.destroy()));

    for (const [key, { wanted }] of quota) {
      // Asked again before each make: a request may have changed what is wanted meanwhile.
      while (!this.#closed && this.#idle.filter((idle) => idle.key === key).length < (this.#quota().get(key)?.count ?? 0)) {
        let member: M;
        try {
          member = await this.#options.make(wanted.request, wanted.key);
        } catch (error) {
          if (error instanceof WarmKeyChangedError) void this.refresh();
          else this.#failed(error);
          return;
        }
        this.#failures = 0;
        if (this.#closed) {
          await member.destroy().catch(() => undefined);
          return;
        }
        this.#add(member, key);
      }
    }
  }

  #add(member: M, key: string): void {
    const idle: Idle<M> = { member, key, madeAt: Date.now() };
    this.#idle.push(idle);
    // Its own wall-clock backstop runs from creation: a sandbox kept too long is made again.
    const timer = setTimeout(() => {
      this.#drop(idle, 'waited too long');
      void member.destroy().catch(() => undefined);
      this.#schedule();
    }, this.#options.maxIdleMs);
    timer.unref();
    this.#idleTimers.set(member, timer);
    void member.exited.then(() => {
      if (!this.#idle.includes(idle)) return;
      // Killed, or Docker went away: the pool is empty of it, and sessions start cold meanwhile.
      this.#drop(idle, 'stopped while waiting');
      this.#retryLater();
    });
  }

  #drop(idle: Idle<M>, why: string): void {
    const index = this.#idle.indexOf(idle);
    if (index < 0) return;
    this.#idle.splice(index, 1);
    this.#forgetTimer(idle.member);
    this.#options.logger?.debug({ sandbox: idle.member.id, why }, 'warm sandbox removed from the pool');
  }

  #forgetTimer(member: M): void {
    clearTimeout(this.#idleTimers.get(member));
    this.#idleTimers.delete(member);
  }

  #failed(error: unknown): void {
    this.#options.logger?.warn(
      { err: error },
      'could not make a warm sandbox; sessions start cold until it can (is Docker running?)',
    );
    this.#retryLater();
  }

  /** Tries again after a wait that grows with each failure in a row. */
  #retryLater(): void {
    if (this.#closed || this.#retryTimer) return;
    const delay = this.#retryDelays[Math.min(this.#failures, this.#retryDelays.length - 1)] ?? 60_000;
    this.#failures++;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#schedule();
    }, delay);
    this.#retryTimer.unref();
  }
}
