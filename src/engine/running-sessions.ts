import type { Sandbox } from '../sandbox/runtime.js';

/** Why a running session's signal was aborted. */
export type AbortReason = 'stop' | 'shutdown';

export interface RunningSession {
  controller: AbortController;
  sandbox?: Sandbox;
  done: Promise<void>;
}

/** The runs under way in this process (a task, or one chat message), so stop and close can reach them. */
export class RunningSessions {
  readonly #running = new Map<string, RunningSession>();

  /** Registers a run; call `end` when it is over. */
  track(id: string): { entry: RunningSession; end: () => void } {
    let resolveDone!: () => void;
    const entry: RunningSession = {
      controller: new AbortController(),
      done: new Promise<void>((resolve) => (resolveDone = resolve)),
    };
    this.#running.set(id, entry);
    return {
      entry,
      end: () => {
        this.#running.delete(id);
        resolveDone();
      },
    };
  }

  get(id: string): RunningSession | undefined {
    return this.#running.get(id);
  }

  has(id: string): boolean {
    return this.#running.has(id);
  }

  ids(): string[] {
    return [...this.#running.keys()];
  }

  entries(): RunningSession[] {
    return [...this.#running.values()];
  }

  get size(): number {
    return this.#running.size;
  }
}
