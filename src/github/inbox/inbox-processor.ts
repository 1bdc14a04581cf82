import type { Logger } from '../../logger.js';
import type { InboxDelivery, WebhookInbox } from './sqlite-webhook-inbox.js';

/** Handles one stored delivery; `lastAttempt` false means a failure will be tried again. */
export type HandleInboxDelivery = (delivery: InboxDelivery, attempt: { lastAttempt: boolean }) => Promise<void>;

export interface InboxProcessorOptions {
  inbox: WebhookInbox;
  handle: HandleInboxDelivery;
  logger: Logger;
  /** Deliveries handled at once, each of a different repository; default 4. */
  concurrency?: number;
  /**
   * Waits before each retry of a delivery whose handling threw (a GitHub read failed); default
   * 1 s, 4 s, 15 s, so at most four attempts. Tests make them short.
   */
  retryDelaysMs?: readonly number[];
  /** How long a done delivery is kept (a redelivery within it is recognised here); default 7 days. */
  keepDoneMs?: number;
  /** Starts without handling anything until resume() (tests: an acknowledged delivery a crash interrupts). */
  paused?: boolean;
  /**
   * Called at start for each delivery an earlier run left unfinished, before it is queued again:
   * TeleCoder gives back the delivery claim a crash may have left without its session.
   */
  recover?: (delivery: InboxDelivery) => void;
}

const DEFAULT_RETRY_DELAYS_MS = [1_000, 4_000, 15_000];
const SEVEN_DAYS_MS = 7 * 24 * 60 * 60 * 1000;
const PRUNE_EVERY_MS = 60 * 60 * 1000;

/**
 * Handles the deliveries the webhook endpoint stored, after the answer went back to GitHub: in
 * arrival order per repository (a comment is not handled before the issue that preceded it), at
 * most `concurrency` repositories at once. A delivery is marked done only once its handler
 * returned, so one stored before a crash is handled at the next start; a handler that keeps
 * throwing is given up after the last retry (the handler reported it in the thread).
 */
export class InboxProcessor {
  readonly #options: InboxProcessorOptions;
  readonly #concurrency: number;
  readonly #delays: readonly number[];
  /** Waiting deliveries per repository key, in arrival order. */
  readonly #queues = new Map<string, InboxDelivery[]>();
  /** Repositories with a delivery being handled (or waiting for its retry). */
  readonly #busy = new Set<string>();
  /** Every delivery queued or in progress, so the start-up scan does not queue one twice. */
  readonly #known = new Set<string>();
  readonly #idleWaiters: Array<() => void> = [];
  readonly #retryTimers = new Set<{ timer: NodeJS.Timeout; wake: () => void }>();
  /** Stored by accept() and about to be queued. */
  #arriving = 0;
  #started = false;
  #stopping = false;
  /**
   * Repositories whose delivery waits out a retry's backoff: they stay busy (their next delivery
   * still waits, for order), but their slot is lent to other repositories meanwhile.
   */
  readonly #resting = new Set<string>();
  /** Retries whose backoff is over, waiting for a slot; served before any new delivery. */
  readonly #slotWaiters: Array<{ key: string; wake: () => void }> = [];
  #paused: boolean;
  #pruneTimer?: NodeJS.Timeout;

  constructor(options: InboxProcessorOptions) {
    this.#options = options;
    this.#concurrency = Math.max(1, options.concurrency ?? 4);
    this.#delays = options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
    this.#paused = options.paused ?? false;
  }

  /**
   * Stores a delivery (the acknowledgement waits only for this) and queues it. A redelivery of a
   * stored id is neither stored nor queued again: returns false.
   */
  accept(delivery: Omit<InboxDelivery, 'attempts'>): boolean {
    if (!this.#options.inbox.add(delivery)) return false;
    // On the next turn of the event loop: the answer to GitHub is written first.
    this.#arriving++;
    setImmediate(() => {
      this.#arriving--;
      this.#enqueue({ ...delivery, attempts: 0 });
    });
    return true;
  }

  /** Queues what an earlier run stored and did not finish, then handles deliveries as they come. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#prune();
    this.#pruneTimer = setInterval(() => this.#prune(), PRUNE_EVERY_MS);
    this.#pruneTimer.unref();
    for (const delivery of this.#options.inbox.pending()) {
      if (this.#known.has(delivery.id)) continue;
      this.#options.recover?.(delivery);
      this.#enqueue(delivery);
    }
    this.#pump();
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    this.#pump();
  }

  /** Deliveries waiting (not counting those being handled). */
  get waiting(): number {
    let count = 0;
    for (const queue of this.#queues.values()) count += queue.length;
    return count;
  }

  /** Resolves when nothing is being handled and nothing waits that could start (paused: only the former). */
  async idle(): Promise<void> {
    if (this.#isIdle()) return;
    await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Takes no new delivery; a retry that is waiting gives up its turn (the delivery stays stored
   * for the next start). Resolves when the deliveries being handled are done or `deadline` passes.
   */
  async stop(deadline: number): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#pruneTimer);
    for (const retry of this.#retryTimers) {
      clearTimeout(retry.timer);
      retry.wake();
    }
    for (const waiter of this.#slotWaiters.splice(0)) waiter.wake();
    const left = Math.max(0, deadline - Date.now());
    await Promise.race([this.idle(), new Promise((resolve) => setTimeout(resolve, left).unref())]);
  }

  #enqueue(delivery: InboxDelivery): void {
    if (this.#known.has(delivery.id)) return;
    this.#known.add(delivery.id);
    const key = repositoryKey(delivery);
    const queue = this.#queues.get(key);
    if (queue) queue.push(delivery);
    else this.#queues.set(key, [delivery]);
    this.#pump();
  }

  /** Deliveries being handled now (a retry waiting out its backoff holds no slot). */
  get #active(): number {
    return this.#busy.size - this.#resting.size;
  }

  #pump(): void {
    if (!this.#started || this.#stopping || this.#paused) return this.#notifyIdle();
    while (this.#slotWaiters.length > 0 && this.#active < this.#concurrency) {
      const waiter = this.#slotWaiters.shift()!;
      // Counted as active again now, before anything else is started in this pass.
      this.#resting.delete(waiter.key);
      waiter.wake();
    }
    for (const [key, queue] of this.#queues) {
      if (this.#active >= this.#concurrency) break;
      if (this.#busy.has(key)) continue;
      const delivery = queue.shift()!;
      if (queue.length === 0) this.#queues.delete(key);
      this.#busy.add(key);
      void this.#run(delivery, key).finally(() => {
        this.#busy.delete(key);
        this.#known.delete(delivery.id);
        this.#pump();
      });
    }
    this.#notifyIdle();
  }

  async #run(delivery: InboxDelivery, key: string): Promise<void> {
    const { inbox, handle, logger } = this.#options;
    const log = logger.child({ delivery: delivery.id, event: delivery.name });
    let attempts = delivery.attempts;
    for (;;) {
      const lastAttempt = attempts >= this.#delays.length;
      attempts++;
      try {
        inbox.recordAttempt(delivery.id);
        await handle(delivery, { lastAttempt });
        inbox.markDone(delivery.id);
        return;
      } catch (error) {
        if (lastAttempt) {
          log.error({ err: error, attempts }, 'giving up on a webhook delivery: its handling kept failing (reported in the thread when possible)');
          inbox.remove(delivery.id);
          return;
        }
        const wait = this.#delays[attempts - 1] ?? 0;
        log.warn({ err: error, attempt: attempts, retryInMs: wait }, 'handling a webhook delivery failed; trying again');
        // Stopping: the next start takes it from the inbox.
        if (!(await this.#rest(key, wait))) return;
      }
    }
  }

  /** Waits out a backoff without holding a slot, then takes one back (before any new delivery). */
  async #rest(key: string, ms: number): Promise<boolean> {
    this.#resting.add(key);
    this.#pump();
    try {
      if (!(await this.#sleep(ms))) return false;
      if (this.#active < this.#concurrency) this.#resting.delete(key);
      // Stopping wakes every waiter through the same list (see stop).
      else await new Promise<void>((wake) => this.#slotWaiters.push({ key, wake }));
      return !this.#stopping;
    } finally {
      this.#resting.delete(key);
    }
  }

  /** Resolves true after `ms`, or false at once when the processor stops. */
  #sleep(ms: number): Promise<boolean> {
    if (this.#stopping) return Promise.resolve(false);
    return new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          this.#retryTimers.delete(entry);
          resolve(!this.#stopping);
        }, ms),
        wake: () => resolve(false),
      };
      this.#retryTimers.add(entry);
    });
  }

  #isIdle(): boolean {
    const runnable = this.#started && !this.#stopping && !this.#paused && this.#queues.size > 0;
    return this.#busy.size === 0 && !runnable && (this.#arriving === 0 || !this.#started || this.#stopping || this.#paused);
  }

  #notifyIdle(): void {
    if (!this.#isIdle()) return;
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }

  #prune(): void {
    try {
      const removed = this.#options.inbox.prune(new Date(Date.now() - (this.#options.keepDoneMs ?? SEVEN_DAYS_MS)));
      if (removed > 0) this.#options.logger.debug({ removed }, 'pruned handled webhook deliveries');
    } catch (error) {
      this.#options.logger.warn({ err: error }, 'could not prune handled webhook deliveries');
    }
  }
}

/** Deliveries of one repository are handled one at a time; those naming none share a key per installation. */
function repositoryKey(delivery: Pick<InboxDelivery, 'repository' | 'installationId'>): string {
  if (delivery.repository) return `repo:${delivery.repository.toLowerCase()}`;
  return `installation:${delivery.installationId ?? 'none'}`;
}
