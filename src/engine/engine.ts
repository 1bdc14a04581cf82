import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import PQueue from 'p-queue';
import type { Config } from '../config/config.js';
import { ConflictError, NotConfiguredError, NotFoundError, TeleCoderError, errorMessage } from '../errors.js';
import type { EventBus, EventListener } from '../events/event-bus.js';
import type { RepoMirrors } from '../git/repo-mirrors.js';
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
import type { Runtime, WarmRequest } from '../sandbox/runtime.js';
import type { SessionStore } from '../store/session-store.js';
import { ChatRunner } from './chat-runner.js';
import { RepositoryCaches, repoKey, type RepositoryCache } from './repository-caches.js';
import { pruneBranches, type BranchPruneResult, type PruneBranchesOptions } from './prune-branches.js';
import { runTask } from './run-task.js';
import { RunningSessions, type AbortReason } from './running-sessions.js';
import type { SessionParts } from './session-parts.js';
import type { ChatPullRequest, SessionService } from './session-service.js';
import type { AgentCatalogue } from '../agent/agent-catalogue.js';
import { CODING_AGENT_NAMES } from '../agent/agent-names.js';
import { providerFor, validateTaskRequest } from './validate-task-request.js';

export type EngineConfig = Pick<
  Config,
  'dataDir' | 'maxConcurrent' | 'allowLocalRepos' | 'chatIdleTimeoutMs' | 'chatMaxMessages' | 'allowWorkflowChanges'
>;

export interface EngineOptions {
  store: SessionStore;
  bus: EventBus;
  runtime: Runtime;
  /** Asked in order; the first whose handles(repo) is true serves the repository (checked at submit). */
  providers: GitProvider[];
  /** The agents sessions may run; a request naming another is refused. */
  agents: AgentCatalogue;
  /** TELECODER_ALLOWED_MODELS: a session asking for another model is refused (empty or absent: any). */
  allowedModels?: string[];
  /** Returns the LLM client for a session's model (undefined: the configured default). */
  llm: (model?: string) => LLMClient;
  /** What each session runs with, made from the configuration by the builder. */
  parts: SessionParts;
  mirrors: RepoMirrors;
  config: EngineConfig;
  logger: Logger;
  newId?: () => string;
  /** How often idle chats are looked for (they end after config.chatIdleTimeoutMs); default 30 s. */
  chatReapIntervalMs?: number;
  /**
   * The sandbox a session of this repository would ask for: at start-up the runtime prepares
   * sandboxes ahead of time for the repositories used last (the warm pool). Absent: none.
   */
  warmRequestFor?: (repo: string) => WarmRequest;
}

/** How many recent sessions are looked at for the repositories the warm pool starts with. */
const WARM_HISTORY = 50;

const STOP_WAIT_MS = 15_000;
/** Shutdown gives running sessions, and a chat's `/pr` in flight, this long to end. */
const SHUTDOWN_WAIT_MS = 8_000;

/**
 * Owns the life of every session: stores it before answering, queues it under a concurrency
 * limit, runs it, and always ends it honestly (complete, error with the reason, or stopped).
 * Doors (HTTP, GitHub, chat bots) only call the SessionService methods.
 */
export class Engine implements SessionService {
  readonly #options: EngineOptions;
  readonly #queue: PQueue;
  readonly #running = new RunningSessions();
  readonly #chats: ChatRunner;
  readonly #mirrors: RepoMirrors;
  readonly #caches: RepositoryCaches;
  #accepting = false;

  constructor(options: EngineOptions) {
    this.#options = options;
    this.#queue = new PQueue({ concurrency: options.config.maxConcurrent, autoStart: false });
    this.#mirrors = options.mirrors;
    this.#chats = new ChatRunner({
      store: options.store,
      logger: options.logger,
      config: options.config,
      parts: options.parts,
      providerFor: (repo) => providerFor(repo, options.providers, options.config.allowLocalRepos),
      running: this.#running,
      ...(options.chatReapIntervalMs !== undefined ? { reapIntervalMs: options.chatReapIntervalMs } : {}),
      lifecycle: {
        get: (id) => this.get(id),
        emit: (id, type, data) => this.#emit(id, type, data),
        setStatus: (id, status) => this.#setStatus(id, status),
        finish: (id, status, fields) => this.#finish(id, status, fields),
        recordUsage: (id, usage) => this.#recordUsage(id, usage),
        finishFailed: (id, signal, error, interrupted, log) => this.#finishFailed(id, signal, error, interrupted, log),
        enqueue: (id) => this.#enqueue(id),
        accepting: () => this.#accepting,
      },
    });
    this.#caches = new RepositoryCaches({
      mirrors: this.#mirrors,
      runtime: options.runtime,
      workspacesDir: join(options.config.dataDir, 'workspaces'),
      logger: options.logger,
    });
  }

  /** The per-repository caches: git mirrors and dependency volumes. */
  async listCaches(): Promise<RepositoryCache[]> {
    return this.#caches.list();
  }

  /** Frees the caches of these repositories (all when omitted); repositories with a running session are kept. */
  async pruneCaches(repos?: readonly string[]): Promise<{ pruned: string[]; kept: Array<{ repo: string; reason: string }> }> {
    const busy = new Set(this.#running.ids().flatMap((id) => {
      const repo = this.#options.store.getSession(id)?.repo;
      return repo ? [repoKey(repo)] : [];
    }));
    return this.#caches.prune({ ...(repos ? { repos } : {}), busy: (repo) => busy.has(repoKey(repo)) });
  }

  /**
   * Removes a local repository's merged or abandoned `telecoder/*` branches (see prune-branches.ts
   * for the rules). GitHub repositories are refused: their branches go with the pull request.
   */
  async pruneBranches(repo: string, options: PruneBranchesOptions = {}): Promise<BranchPruneResult> {
    const provider = providerFor(repo.trim(), this.#options.providers, this.#options.config.allowLocalRepos);
    if (provider.name !== 'local') {
      throw new TeleCoderError(
        `pruning branches works on local repositories only, and ${repo} is not one; on GitHub, turn on the repository's ` +
          '"Automatically delete head branches" setting so a merged pull request takes its branch with it',
      );
    }
    const access = await provider.access(repo.trim(), options.signal);
    return pruneBranches(
      {
        access,
        sessionOf: (branch) => {
          const session = this.#options.store.getSession(branch.slice(branch.indexOf('/') + 1));
          return session && session.branch === branch && repoKey(session.repo) === repoKey(access.repo) ? session : undefined;
        },
      },
      options,
    );
  }

  /** The per-repository git mirrors sessions clone from. */
  get mirrors(): RepoMirrors {
    return this.#mirrors;
  }

  /**
   * Recovers from whatever a previous process left behind, then starts taking work: sessions a
   * crash left running end as failed ("interrupted"), sandboxes with no live session are removed,
   * sessions still queued start again.
   */
  async start(): Promise<void> {
    const { store, runtime, logger } = this.#options;
    for (const session of store.listSessions({ status: 'running' })) {
      if (session.mode === 'task') {
        this.#finish(session.id, 'error', {
          error: 'interrupted: the TeleCoder server stopped while this session was running; run the task again',
        });
      }
    }
    // Chats interrupted by the restart end; their reaper starts.
    this.#chats.start();
    try {
      for (const sandbox of await runtime.listManaged()) {
        if (!this.#running.has(sandbox.sessionId)) {
          logger.info({ container: sandbox.id, session: sandbox.sessionId }, 'removing orphaned sandbox');
          await runtime.remove(sandbox.id);
        }
      }
      // Their networks, and an egress proxy from the last run (it is started again with today's settings).
      await runtime.sweep?.();
      runtime.warm?.(this.#likelyRequests());
    } catch (error) {
      // Docker being down must not keep the API from serving; sessions will fail with the reason.
      logger.warn({ err: error }, 'could not sweep orphaned sandboxes');
    }
    try {
      await this.#caches.sweep(new Set(store.listSessions().map((session) => session.repo)));
    } catch (error) {
      logger.warn({ err: error }, 'could not sweep stale clones and caches');
    }
    this.#accepting = true;
    const pending = store.listSessions({ status: 'pending' }).reverse();
    for (const session of pending) this.#enqueue(session.id);
    this.#queue.start();
  }

  /** The sandboxes the repositories used last would ask for, most recent first. */
  #likelyRequests(): WarmRequest[] {
    const { warmRequestFor, store } = this.#options;
    if (!warmRequestFor) return [];
    const repos = [...new Set(store.listSessions({ limit: WARM_HISTORY }).map((session) => session.repo))];
    return repos.map(warmRequestFor);
  }

  /** Stops taking work; running sessions are aborted and recorded as interrupted. */
  async close(): Promise<void> {
    this.#accepting = false;
    this.#queue.pause();
    this.#queue.clear();
    const running = this.#running.entries();
    for (const entry of running) {
      entry.controller.abort('shutdown' satisfies AbortReason);
      void entry.sandbox?.destroy().catch(() => undefined);
    }
    // Chats between messages have no run to end them; they close alongside the runs' wait.
    await Promise.all([
      Promise.race([
        Promise.allSettled(running.map((entry) => entry.done)),
        new Promise((resolve) => setTimeout(resolve, SHUTDOWN_WAIT_MS).unref()),
      ]),
      this.#chats.close(SHUTDOWN_WAIT_MS),
    ]);
  }

  /** What submit and preflight both refuse; cheap and synchronous, so every door gets it. */
  #checkRequest(request: TaskRequest): { repo: string; provider: GitProvider; llm: LLMClient; agent: string } {
    validateTaskRequest(request);
    const repo = request.repo.trim();
    const provider = providerFor(repo, this.#options.providers, this.#options.config.allowLocalRepos);
    const agent = this.#options.agents.resolve(request.agent);
    // Made now, model given or not: a server without an LLM key says so (503) instead of storing
    // a session that can only fail.
    const llm = this.#options.llm(request.model);
    const allowed = this.#options.allowedModels ?? [];
    if (allowed.length > 0 && !allowed.includes(llm.model)) {
      throw new TeleCoderError(`model "${llm.model}" is not allowed on this server; TELECODER_ALLOWED_MODELS lists ${allowed.join(', ')}`);
    }
    return { repo, provider, llm, agent };
  }

  async preflight(request: TaskRequest, signal?: AbortSignal): Promise<void> {
    const { repo, provider, agent } = this.#checkRequest(request);
    // Asked at once (each is a round trip); the repository's answer is said first.
    const pinged = this.#options.runtime.ping().then(
      () => undefined,
      (error: unknown) => new NotConfiguredError(`no session can start: ${errorMessage(error)}`, { cause: error }),
    );
    await provider.check?.(repo, signal);
    const unreachable = await pinged;
    if (unreachable) throw unreachable;
    if (agent !== 'builtin' && (CODING_AGENT_NAMES as readonly string[]).includes(agent)) {
      // Known only once the image exists; a session on an image without it fails with the same words.
      const installed = await this.#options.runtime.installedAgents?.().catch(() => undefined);
      if (installed && !installed.has(agent)) {
        throw new TeleCoderError(
          `agent "${agent}" is not installed in the sandbox image; build the image with INSTALL_CODING_AGENTS=true (the default, see sandbox/README.md) or choose another agent`,
        );
      }
    }
  }

  submit(request: TaskRequest): Session {
    const { store } = this.#options;
    const { repo, llm, agent } = this.#checkRequest(request);
    const mode = request.mode ?? 'task';
    if (!this.#accepting) {
      throw new TeleCoderError('the server is shutting down and takes no new work; try again in a moment', 503);
    }
    const id = this.#newUniqueId();
    const session = store.createSession({
      id,
      repo,
      prompt: request.prompt,
      mode,
      // A revision works on the pull request's own branch; everything else on telecoder/<id>.
      branch: request.options?.revision?.headBranch ?? branchFor(id),
      agent,
      model: request.model ?? llm.model,
      origin: request.origin ?? { kind: 'api' },
      options: request.options ?? {},
      ...(request.deliveryId !== undefined
        ? { deliveryId: request.deliveryId, deliveryKind: request.origin?.kind ?? 'api' }
        : {}),
    });
    // A chat's prompt is its first message.
    if (mode === 'chat') store.addMessage(id, 'user', request.prompt);
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

  sendMessage(id: string, content: string, options: { deliveryId?: string; deliveryKind?: string } = {}): Message {
    return this.#chats.sendMessage(id, content, options);
  }

  async createPullRequest(id: string): Promise<ChatPullRequest> {
    return this.#chats.createPullRequest(id);
  }

  /**
   * The session's change as a readable diff: a live chat's read in its sandbox, otherwise what
   * was delivered (kept when it was pushed).
   */
  async diff(id: string): Promise<string> {
    const session = this.get(id);
    const live = session.mode === 'chat' && !isFinal(session.status) ? await this.#chats.liveDiff(id) : undefined;
    if (live !== undefined) return live;
    const delivered = this.#options.store.getDiff(id);
    if (delivered !== undefined) return delivered;
    const why = isFinal(session.status)
      ? session.result?.type === 'text'
        ? 'it changed nothing (it answered with text)'
        : `it delivered no change (${session.status}${session.error ? `: ${session.error}` : ''})`
      : 'it has not delivered a change yet; ask again when it is done';
    throw new ConflictError(`session ${id} has no diff to show: ${why}`);
  }

  async stop(id: string): Promise<Session> {
    const session = this.get(id);
    if (isFinal(session.status)) return session;
    const running = this.#running.get(id);
    if (!running && session.mode === 'chat') return this.#chats.stopIdle(id);
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

  #recordUsage(id: string, usage: TokenUsage): void {
    this.#options.store.updateSession(id, { usage });
    this.#emit(id, 'usage', usage);
  }

  /** Ends a run the catch block got: stopped, interrupted by shutdown, or failed with the reason. */
  #finishFailed(id: string, signal: AbortSignal, error: unknown, interrupted: string, log: Logger): void {
    const reason = signal.reason as AbortReason | undefined;
    if (signal.aborted && reason === 'stop') {
      this.#finish(id, 'stopped', { error: 'stopped by request' });
    } else if (signal.aborted && reason === 'shutdown') {
      this.#finish(id, 'error', { error: interrupted });
    } else {
      log.warn({ err: error }, 'session failed');
      this.#finish(id, 'error', { error: errorMessage(error) });
    }
  }

  async #run(id: string): Promise<void> {
    const { store, logger } = this.#options;
    const session = store.getSession(id);
    if (!session || session.status !== 'pending' || !this.#accepting) return;
    if (session.mode === 'chat') return this.#chats.runMessage(session);

    const { entry, end } = this.#running.track(id);
    const { controller } = entry;
    const log = logger.child({ session: id });
    try {
      const started = this.#setStatus(id, 'running');
      const outcome = await runTask(this.#options.parts(started, log), {
        session: started,
        signal: controller.signal,
        emit: (type, data) => this.#emit(id, type, data),
        recordUsage: (usage) => this.#recordUsage(id, usage),
        recordDiff: (diff) => store.saveDiff(id, diff),
        onSandbox: (sandbox) => {
          entry.sandbox = sandbox;
          // A stop that raced with creation: kill the sandbox it could not see.
          if (controller.signal.aborted) void sandbox.destroy().catch(() => undefined);
        },
      });
      if (outcome.stoppedBy) {
        // The work so far is delivered (the result says where), but the task is not done.
        this.#finish(id, 'error', { error: outcome.stoppedBy, result: outcome.result, usage: outcome.usage });
        log.info({ result: outcome.result.type, reason: outcome.stoppedBy }, 'session stopped by its budget');
      } else {
        this.#finish(id, 'complete', { result: outcome.result, usage: outcome.usage });
        log.info({ result: outcome.result.type }, 'session complete');
      }
    } catch (error) {
      this.#finishFailed(
        id,
        controller.signal,
        error,
        'interrupted: the TeleCoder server shut down while this session was running; run the task again',
        log,
      );
    } finally {
      end();
    }
  }
}
