/**
 * Which session owns which sandbox. A sandbox made ahead of time (the warm pool) carries no
 * session in its container labels, which Docker fixes at creation: its owner is recorded here
 * when a session claims it, and a sandbox is claimed at most once.
 */
export interface SandboxClaims {
  /** Records that `sessionId` owns sandbox `sandboxId`; false when a session already claimed it. */
  claim(sandboxId: string, sessionId: string): boolean;
  /** The session that claimed the sandbox, if any. */
  claimant(sandboxId: string): string | undefined;
  /** Forgets the claim of a sandbox that is gone. */
  release(sandboxId: string): void;
  /** Forgets every claim but those of these sandboxes (the ones that still exist). */
  retainOnly(sandboxIds: ReadonlySet<string>): void;
}

/** Claims kept in memory: for a runtime used without a store (benchmarks, embedding). */
export class InMemorySandboxClaims implements SandboxClaims {
  readonly #owners = new Map<string, string>();

  claim(sandboxId: string, sessionId: string): boolean {
    if (this.#owners.has(sandboxId)) return false;
    this.#owners.set(sandboxId, sessionId);
    return true;
  }

  claimant(sandboxId: string): string | undefined {
    return this.#owners.get(sandboxId);
  }

  release(sandboxId: string): void {
    this.#owners.delete(sandboxId);
  }

  retainOnly(sandboxIds: ReadonlySet<string>): void {
    for (const id of [...this.#owners.keys()]) if (!sandboxIds.has(id)) this.#owners.delete(id);
  }
}
