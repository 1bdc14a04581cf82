import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import PQueue from 'p-queue';
import type { CodingAgent } from '../agent/coding-agent.js';
import type { Config } from '../config/config.js';
import { ConflictError, NotFoundError, TeleCoderError, errorMessage } from '../errors.js';
import type { EventBus, EventListener } from '../events/event-bus.js';
import type { GitProvider } from '../gitprovider/provider.js';
import type { LLMClient } from '../llm/client.js';
import type { Logger } from '../logger.js';
import {
  branchFor,
  isFinal,
  type Message,
  type Session,
  type SessionEvent,
  type SessionEventType,
  type SessionStatus,
  type TaskRequest,
  type TokenUsage,
} from '../model/session.js';
import type { Runtime, Sandbox } from '../sandbox/runtime.js';
import type { SessionStore } from '../store/session-store.js';
import { runTask } from './run-task.js';
import type { SessionService } from './session-service.js';
import { providerFor, validateTaskRequest } from './validate-task-request.js';

export type EngineConfig = Pick<
  Config,
  'dataDir' | 'maxConcurrent' | 'allowLocalRepos' | 'sandbox' | 'agent'
>;

export interface EngineOptions {
  store: SessionStore;
  bus: EventBus;
  runtime: Runtime;
  /** Asked in order; the first whose handles(repo) is true serves the repository. */
  providers: GitProvider[];
  agent: CodingAgent;
  /** Returns the LLM client for a session's model (undefined: the configured default). */
  llm: (model?: string) => LLMClient;
  config: EngineConfig;
  logger: Logger;
  newId?: () => string;
}

/** Why a running session's signal was aborted. */
type AbortReason = 'stop' | 'shutdown';

interface RunningSession {
  controller: AbortController;
  sandbox?: Sandbox;
  done: Promise<void>;
}

const STOP_WAIT_MS = 15_000;

/**
 * Owns the life of every session: stores it before answering, queues it under a concurrency
 * limit, runs it, and always ends it honestly (complete, error with the reason, or stopped).
 * Doors (HTTP, GitHub, chat bots) only call the SessionService methods.
 */
export class Engine implements SessionService {
  readonly #options: EngineOptions;
  readonly #queue: PQueue;
  readonly #running = new Map<string, RunningSession>();
  #accepting = false;

  constructor(options: EngineOptions) {
    this.#options = options;
    this.#queue = new PQueue({ concurrency: options.config.maxConcurrent, autoStart: false });
  }

  /**
   * Recovers from whatever a previous process left behind, then starts taking work: sessions a
   * crash left running end as failed ("interrupted"), sandboxes with no live session are removed,
   * sessions still queued start again.
   */
  async start(): Promise<void> {
    const { store, runtime, logger } = this.#options;
    for (const session of store.listSessions({ status: 'running' })) {
      this.#finish(session.id, 'error', {
        error: 'interrupted: the TeleCoder server stopped while this session was running; run the task again',
      });
    }
    try {
      for (const sandbox of await runtime.listManaged()) {
        if (!this.#running.has(sandbox.sessionId)) {
          logger.info({ container: sandbox.id, session: sandbox.sessionId }, 'removing orphaned sandbox');
          await runtime.remove(sandbox.id);
        }
      }
    } catch (error) {
      // Docker being down must not keep the API from serving; sessions will fail with the reason.
      logger.warn({ err: error }, 'could not sweep orphaned sandboxes');
    }
    this.#accepting = true;
    const pending = store.listSessions({ status: 'pending' }).reverse();
    for (const session of pending) this.#enqueue(session.id);
    this.#queue.start();
  }

  /** Stops taking work; running sessions are aborted and recorded as interrupted. */
  async close(): Promise<void> {
    this.#accepting = false;
    this.#queue.pause();
    this.#queue.clear();
    const running = [...this.#running.values()];
    for (const entry of running) {
      entry.controller.abort('shutdown' satisfies AbortReason);
      void entry.sandbox?.destroy().catch(() => undefined);
    }
    await Promise.race([
      Promise.allSettled(running.map((entry) => entry.done)),
      new Promise((resolve) => setTimeout(resolve, 8_000).unref()),
    ]);
  }

  submit(request: TaskRequest): Session {
    validateTaskRequest(request);
    const { store, config } = this.#options;
    const repo = request.repo.trim();
    providerFor(repo, this.#options.providers, config.allowLocalRepos);
    const mode = request.mode ?? 'task';
    if (mode === 'chat') {
      throw new TeleCoderError('chat mode is not available on this server yet; send the task with mode "task"', 501);
    }
    if (!this.#accepting) {
      throw new TeleCoderError('the server is shutting down and takes no new work; try again in a moment', 503);
    }
    const id = this.#newUniqueId();
    const session = store.createSession({
      id,
      repo,
      prompt: request.prompt,
      mode,
      branch: branchFor(id),
      agent: request.agent ?? config.agent.name,
      model: request.model ?? this.#options.llm(request.model).model,
      origin: request.origin ?? { kind: 'api' },
    });
    this.#emit(id, 'status', 'pending');
    this.#enqueue(id);
    return session;
  }

  get(id: string): Session {
    const session = this.#options.store.getSession(id);
    if (!session) throw new NotFoundError(`no session with id "${id}"; list sessions with \`telecoder list\``);
    return session;
  }

  list(options: { limit?: number } = {}): Session[] {
    return this.#options.store.listSessions(options);
  }

  events(id: string, afterId?: number): SessionEvent[] {
    this.get(id);
    return this.#options.store.listEvents(id, afterId);
  }

  subscribe(id: string, listener: EventListener): () => void {
    return this.#options.bus.subscribe(id, listener);
  }

  messages(id: string): Message[] {
    this.get(id);
    return this.#options.store.listMessages(id);
  }

  sendMessage(id: string, _content: string): Message {
    const session = this.get(id);
    throw new ConflictError(`session ${session.id} is a ${session.mode} session; messages can only be sent to chat sessions`);
  }

  async createPullRequest(id: string): Promise<{ url: string; number: number }> {
    const session = this.get(id);
    throw new ConflictError(
      `session ${session.id} is a ${session.mode} session; its pull request is opened when the task completes`,
    );
  }

  async stop(id: string): Promise<Session> {
    const session = this.get(id);
    if (isFinal(session.status)) return session;
    const running = this.#running.get(id);
    if (!running) {
      // Still queued: the queue entry sees the final status and does nothing.
      return this.#finish(id, 'stopped', { error: 'stopped by request before it started' });
    }
    running.controller.abort('stop' satisfies AbortReason);
    await running.sandbox?.destroy().catch((error: unknown) => {
      this.#options.logger.warn({ err: error, session: id }, 'could not remove the sandbox on stop');
    });
    await Promise.race([running.done, new Promise((resolve) => setTimeout(resolve, STOP_WAIT_MS).unref())]);
    return this.get(id);
  }

  /** Sessions being worked on right now (not queued). */
  get runningCount(): number {
    return this.#running.size;
  }

  /** Resolves when nothing is queued or running. */
  idle(): Promise<void> {
    return this.#queue.onIdle();
  }

  #newUniqueId(): string {
    const make = this.#options.newId ?? (() => randomBytes(4).toString('hex'));
    for (let attempt = 0; attempt < 10; attempt++) {
      const id = make();
      if (!this.#options.store.getSession(id)) return id;
    }
    throw new Error('could not find an unused session id after 10 attempts');
  }

  #enqueue(id: string): void {
    void this.#queue.add(() => this.#run(id)).catch((error: unknown) => {
      this.#options.logger.error({ err: error, session: id }, 'session runner crashed');
    });
  }

  #emit(id: string, type: SessionEventType, data: unknown): void {
    const event = this.#options.store.appendEvent(id, type, data);
    this.#options.bus.publish(event);
  }

  #setStatus(id: string, status: SessionStatus): Session {
    const session = this.#options.store.updateSession(id, { status });
    this.#emit(id, 'status', status);
    return session;
  }

  #finish(
    id: string,
    status: 'complete' | 'error' | 'stopped',
    fields: { error?: string; result?: Session['result']; usage?: TokenUsage },
  ): Session {
    const { store } = this.#options;
    const patch = {
      status,
      error: fields.error ?? null,
      ...(fields.result ? { result: fields.result, prUrl: fields.result.prUrl ?? null, prNumber: fields.result.prNumber ?? null } : {}),
      ...(fields.usage ? { usage: fields.usage } : {}),
    };
    const session = store.updateSession(id, patch);
    if (fields.error) this.#emit(id, 'error', fields.error);
    if (fields.result) this.#emit(id, 'result', fields.result);
    this.#emit(id, 'status', status);
    this.#emit(id, 'done', { status, error: session.error, result: session.result });
    return session;
  }

  async #run(id: string): Promise<void> {
    const { store, logger, config } = this.#options;
    const session = store.getSession(id);
    if (!session || session.status !== 'pending' || !this.#accepting) return;

    const controller = new AbortController();
    let resolveDone!: () => void;
    const entry: RunningSession = { controller, done: new Promise<void>((resolve) => (resolveDone = resolve)) };
    this.#running.set(id, entry);
    const log = logger.child({ session: id });
    try {
      const started = this.#setStatus(id, 'running');
      const outcome = await runTask(
        {
          runtime: this.#options.runtime,
          provider: providerFor(started.repo, this.#options.providers, config.allowLocalRepos),
          agent: this.#options.agent,
          llm: this.#options.llm(started.model ?? undefined),
          logger: log,
          workspacesDir: join(config.dataDir, 'workspaces'),
          sandbox: {
            network: config.sandbox.network,
            limits: {
              memoryBytes: config.sandbox.memoryBytes,
              cpus: config.sandbox.cpus,
              pids: config.sandbox.pids,
              wallClockMs: config.sandbox.wallClockMs,
            },
          },
          agentLimits: { maxTurns: config.agent.maxTurns, commandTimeoutMs: config.agent.commandTimeoutMs },
        },
        {
          session: started,
          signal: controller.signal,
          emit: (type, data) => this.#emit(id, type, data),
          recordUsage: (usage) => {
            store.updateSession(id, { usage });
            this.#emit(id, 'usage', usage);
          },
          onSandbox: (sandbox) => {
            entry.sandbox = sandbox;
            // A stop that raced with creation: kill the sandbox it could not see.
            if (controller.signal.aborted) void sandbox.destroy().catch(() => undefined);
          },
        },
      );
      this.#finish(id, 'complete', { result: outcome.result, usage: outcome.usage });
      log.info({ result: outcome.result.type }, 'session complete');
    } catch (error) {
      const reason = controller.signal.reason as AbortReason | undefined;
      if (controller.signal.aborted && reason === 'stop') {
        this.#finish(id, 'stopped', { error: 'stopped by request' });
      } else if (controller.signal.aborted && reason === 'shutdown') {
        this.#finish(id, 'error', {
          error: 'interrupted: the TeleCoder server shut down while this session was running; run the task again',
        });
      } else {
        log.warn({ err: error }, 'session failed');
        this.#finish(id, 'error', { error: errorMessage(error) });
      }
    } finally {
      this.#running.delete(id);
      resolveDone();
    }
  }
}
