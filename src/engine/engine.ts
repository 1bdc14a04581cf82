import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import ms from 'ms';
import PQueue from 'p-queue';
import type { CodingAgent } from '../agent/coding-agent.js';
import type { Config } from '../config/config.js';
import { ConflictError, NotConfiguredError, NotFoundError, TeleCoderError, errorMessage } from '../errors.js';
import type { EventBus, EventListener } from '../events/event-bus.js';
import { ALLOW_WORKFLOW_CHANGES_HINT, workflowChangesAllowed } from '../git/held-back-paths.js';
import { RepoMirrors } from '../git/repo-mirrors.js';
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
import { defaultPipeline } from '../pipeline/default-pipeline.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import { setUpWorkspace, setupProblemText } from '../pipeline/setup/set-up-workspace.js';
import type { Runtime, Sandbox } from '../sandbox/runtime.js';
import type { SessionStore } from '../store/session-store.js';
import { ChatSessions, type LiveChat } from './chat-sessions.js';
import { RepositoryCaches, repoKey, type RepositoryCache } from './repository-caches.js';
import { chatPrompt, chatPullRequestBody } from './chat-text.js';
import { deliverChange } from './deliver-change.js';
import { heldBackNames, heldBackOnlyMessage, heldBackWarning } from './held-back-text.js';
import { prepareWorkspace } from './prepare-workspace.js';
import { pruneBranches, type BranchPruneResult, type PruneBranchesOptions } from './prune-branches.js';
import { commitMessage, pullRequestTitle } from './pull-request-text.js';
import { runAgentInSandbox, SandboxDiedError } from './run-agent-in-sandbox.js';
import { runTask, type RunTaskDeps } from './run-task.js';
import type { ChatPullRequest, SessionService } from './session-service.js';
import { providerFor, validateTaskRequest } from './validate-task-request.js';

export type EngineConfig = Pick<
  Config,
  | 'dataDir'
  | 'maxConcurrent'
  | 'allowLocalRepos'
  | 'sandbox'
  | 'agent'
  | 'chatIdleTimeoutMs'
  | 'chatMaxMessages'
  | 'maxRevisions'
  | 'maxSubtasks'
  | 'pipeline'
  | 'allowWorkflowChanges'
  | 'change'
> & { llm: Pick<Config['llm'], 'plannerModel'> };

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
  /** How often idle chats are looked for (they end after config.chatIdleTimeoutMs); default 30 s. */
  chatReapIntervalMs?: number;
  /** The stages of a task; default the built-in ones named by TELECODER_STAGES. Chats never use it. */
  pipeline?: Pipeline;
  /** Default: mirrors under the data dir's mirrors/. */
  mirrors?: RepoMirrors;
}

/** Stages that ask the planner model; review and verify ask the reviewer model. */
const PLANNER_STAGES = new Set(['decompose', 'plan']);
const REVIEWER_STAGES = new Set(['review', 'verify']);

/** Why a running session's signal was aborted. */
type AbortReason = 'stop' | 'shutdown';

interface RunningSession {
  controller: AbortController;
  sandbox?: Sandbox;
  done: Promise<void>;
}

const STOP_WAIT_MS = 15_000;
/** Shutdown gives running sessions, and a chat's `/pr` in flight, this long to end. */
const SHUTDOWN_WAIT_MS = 8_000;
const DEFAULT_CHAT_REAP_INTERVAL_MS = 30_000;

const CHAT_RESTARTED =
  "interrupted: the TeleCoder server restarted and this chat's sandbox is gone; start a new chat";
const CHAT_SHUT_DOWN = "interrupted: the TeleCoder server shut down and this chat's sandbox is gone; start a new chat";

/**
 * Owns the life of every session: stores it before answering, queues it under a concurrency
 * limit, runs it, and always ends it honestly (complete, error with the reason, or stopped).
 * Doors (HTTP, GitHub, chat bots) only call the SessionService methods.
 */
export class Engine implements SessionService {
  readonly #options: EngineOptions;
  readonly #queue: PQueue;
  readonly #running = new Map<string, RunningSession>();
  readonly #chats: ChatSessions;
  readonly #pipeline: Pipeline;
  readonly #mirrors: RepoMirrors;
  readonly #caches: RepositoryCaches;
  #reaper: NodeJS.Timeout | undefined;
  #accepting = false;

  constructor(options: EngineOptions) {
    this.#options = options;
    this.#chats = new ChatSessions({ logger: options.logger });
    this.#pipeline = options.pipeline ?? defaultPipeline(options.config.pipeline.stages);
    this.#queue = new PQueue({ concurrency: options.config.maxConcurrent, autoStart: false });
    this.#mirrors = options.mirrors ?? new RepoMirrors({ dir: join(options.config.dataDir, 'mirrors') });
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
    const busy = new Set([...this.#running.keys()].flatMap((id) => {
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
    for (const session of store.listSessions({ status: ['running', 'idle'] })) {
      if (session.mode === 'chat') {
        this.#finish(session.id, 'error', { error: CHAT_RESTARTED });
      } else if (session.status === 'running') {
        this.#finish(session.id, 'error', {
          error: 'interrupted: the TeleCoder server stopped while this session was running; run the task again',
        });
      }
    }
    // A chat queued with only its first message never had a sandbox and can start as if new.
    for (const session of store.listSessions({ status: 'pending' })) {
      if (session.mode === 'chat' && store.listMessages(session.id).length > 1) {
        this.#finish(session.id, 'error', { error: CHAT_RESTARTED });
      }
    }
    try {
      for (const sandbox of await runtime.listManaged()) {
        if (!this.#running.has(sandbox.sessionId)) {
          logger.info({ container: sandbox.id, session: sandbox.sessionId }, 'removing orphaned sandbox');
          await runtime.remove(sandbox.id);
        }
      }
      // Their networks, and an egress proxy from the last run (it is started again with today's settings).
      await runtime.sweep?.();
      runtime.warm?.();
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
    this.#reaper = setInterval(() => {
      void this.#reapIdleChats().catch((error: unknown) => logger.error({ err: error }, 'reaping idle chats failed'));
    }, this.#options.chatReapIntervalMs ?? DEFAULT_CHAT_REAP_INTERVAL_MS);
    this.#reaper.unref();
  }

  /** Stops taking work; running sessions are aborted and recorded as interrupted. */
  async close(): Promise<void> {
    clearInterval(this.#reaper);
    this.#accepting = false;
    this.#queue.pause();
    this.#queue.clear();
    const running = [...this.#running.values()];
    for (const entry of running) {
      entry.controller.abort('shutdown' satisfies AbortReason);
      void entry.sandbox?.destroy().catch(() => undefined);
    }
    // Chats between messages (or with one queued) have no run to end them. One making a pull
    // request is closed only once its push and pull request are done (or the wait is over), so
    // its clone is never removed under the push; that wait runs alongside the runs' wait.
    const idleChats = this.#chats.ids().filter((id) => !this.#running.has(id));
    await Promise.all([
      Promise.race([
        Promise.allSettled(running.map((entry) => entry.done)),
        new Promise((resolve) => setTimeout(resolve, SHUTDOWN_WAIT_MS).unref()),
      ]),
      Promise.allSettled(
        idleChats.map(async (id) => {
          await this.#chats.close(id, { waitMs: SHUTDOWN_WAIT_MS, reason: 'shutdown' satisfies AbortReason });
          const session = this.#options.store.getSession(id);
          if (session && !isFinal(session.status)) this.#finish(id, 'error', { error: CHAT_SHUT_DOWN });
        }),
      ),
    ]);
  }

  /** What submit and preflight both refuse; cheap and synchronous, so every door gets it. */
  #checkRequest(request: TaskRequest): { repo: string; provider: GitProvider; llm: LLMClient } {
    validateTaskRequest(request);
    const repo = request.repo.trim();
    const provider = providerFor(repo, this.#options.providers, this.#options.config.allowLocalRepos);
    const agentName = this.#options.agent.name;
    if (request.agent !== undefined && request.agent !== agentName) {
      throw new TeleCoderError(`agent "${request.agent}" is not available on this server; it runs the "${agentName}" agent (leave agent out to use it)`);
    }
    // Made now, model given or not: a server without an LLM key says so (503) instead of storing
    // a session that can only fail.
    const llm = this.#options.llm(request.model);
    return { repo, provider, llm };
  }

  async preflight(request: TaskRequest, signal?: AbortSignal): Promise<void> {
    const { repo, provider } = this.#checkRequest(request);
    await provider.check?.(repo, signal);
    try {
      await this.#options.runtime.ping();
    } catch (error) {
      throw new NotConfiguredError(`no session can start: ${errorMessage(error)}`, { cause: error });
    }
  }

  submit(request: TaskRequest): Session {
    const { store } = this.#options;
    const { repo, llm } = this.#checkRequest(request);
    const mode = request.mode ?? 'task';
    const agentName = this.#options.agent.name;
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
      agent: agentName,
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

  sendMessage(id: string, content: string): Message {
    const { store, config } = this.#options;
    const session = this.#chatSession(id, 'messages can only be sent to chat sessions');
    const chat = this.#chats.get(id);
    this.#refuseIfClosing(session, chat);
    if (session.status !== 'idle' || !chat || chat.delivering) {
      throw new ConflictError(
        `chat ${id} is busy (${chat?.delivering ? 'making a pull request' : 'working on a message'}); wait for the current message to finish, then send the next one`,
      );
    }
    if (!this.#accepting) {
      throw new TeleCoderError('the server is shutting down and takes no new work; try again in a moment', 503);
    }
    const sent = store.listMessages(id).filter((message) => message.role === 'user').length;
    if (sent >= config.chatMaxMessages) {
      throw new ConflictError(
        `chat ${id} reached its limit of ${config.chatMaxMessages} messages (TELECODER_CHAT_MAX_MESSAGES); open a pull request with what it has, or start a new chat`,
      );
    }
    const message = store.addMessage(id, 'user', content);
    this.#setStatus(id, 'pending');
    this.#enqueue(id);
    return message;
  }

  async createPullRequest(id: string): Promise<ChatPullRequest> {
    const session = this.#chatSession(id, 'its pull request is opened when the task completes');
    const chat = this.#chats.get(id);
    this.#refuseIfClosing(session, chat);
    if (session.status !== 'idle' || !chat || chat.delivering) {
      throw new ConflictError(
        `chat ${id} is busy (${chat?.delivering ? 'making a pull request' : 'working on a message'}); wait for the current message to finish, then ask for the pull request`,
      );
    }
    return this.#chats.deliver(chat, (signal) => this.#deliverChat(session, chat, signal));
  }

  async stop(id: string): Promise<Session> {
    const session = this.get(id);
    if (isFinal(session.status)) return session;
    const running = this.#running.get(id);
    if (!running && session.mode === 'chat') {
      // Between messages (or with one queued, whose queue entry then sees the final status). A
      // `/pr` in flight is let finish first, so the branch and pull request are whole.
      await this.#chats.close(id, { waitMs: STOP_WAIT_MS, reason: 'stop' satisfies AbortReason });
      const current = this.get(id);
      return isFinal(current.status) ? current : this.#finish(id, 'stopped', { error: 'stopped by request' });
    }
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

  /** An idle chat that is no longer live is being closed (stop, idle reaper, shutdown): it takes nothing more. */
  #refuseIfClosing(session: Session, chat: LiveChat | undefined): void {
    if (session.status === 'idle' && !chat) {
      throw new ConflictError(`chat ${session.id} is ending (stopped, idle too long, or the server is shutting down); start a new chat`);
    }
  }

  /** The chat session with this id; a ConflictError (saying `taskHint`) for a task, or an ended chat. */
  #chatSession(id: string, taskHint: string): Session {
    const session = this.get(id);
    if (session.mode !== 'chat') throw new ConflictError(`session ${id} is a ${session.mode} session; ${taskHint}`);
    if (isFinal(session.status)) {
      throw new ConflictError(`chat ${id} has ended (${session.status}${session.error ? `: ${session.error}` : ''}); start a new chat`);
    }
    return session;
  }

  #runDeps(session: Session, logger: Logger): RunTaskDeps {
    const { config } = this.#options;
    return {
      runtime: this.#options.runtime,
      provider: providerFor(session.repo, this.#options.providers, config.allowLocalRepos),
      agent: this.#options.agent,
      llm: this.#options.llm(session.model ?? undefined),
      logger,
      workspacesDir: join(config.dataDir, 'workspaces'),
      mirrors: this.#mirrors,
      dependencyCache: config.sandbox.dependencyCache,
      snapshotMinFiles: config.sandbox.snapshotMinFiles,
      change: config.change,
      sandbox: {
        // The policy itself (which hosts) is the runtime's; `none` needs no network at all.
        network: config.sandbox.egress === 'none' ? 'none' : 'egress',
        limits: {
          memoryBytes: config.sandbox.memoryBytes,
          cpus: config.sandbox.cpus,
          pids: config.sandbox.pids,
          wallClockMs: config.sandbox.wallClockMs,
          diskBytes: config.sandbox.diskBytes,
        },
      },
      agentLimits: { maxTurns: config.agent.maxTurns, commandTimeoutMs: config.agent.commandTimeoutMs },
      pipeline: this.#pipeline,
      llmFor: (stage) => {
        const model = PLANNER_STAGES.has(stage)
          ? config.llm.plannerModel
          : REVIEWER_STAGES.has(stage)
            ? config.pipeline.reviewerModel
            : undefined;
        return this.#options.llm(model ?? session.model ?? undefined);
      },
      limits: {
        maxSubtasks: config.maxSubtasks,
        maxFixAttempts: config.pipeline.maxFixAttempts,
        setupTimeoutMs: config.pipeline.setupTimeoutMs,
        // A repository's own configuration may ask for more or fewer review rounds.
        maxRevisions: session.options.maxRevisions ?? config.maxRevisions,
      },
      budget: {
        ...(config.pipeline.maxTokens !== undefined ? { maxTokens: config.pipeline.maxTokens } : {}),
        ...(config.pipeline.maxCostUsd !== undefined ? { maxCostUsd: config.pipeline.maxCostUsd } : {}),
      },
      prices: config.pipeline.prices,
      allowWorkflowChanges: config.allowWorkflowChanges,
    };
  }

  #recordUsage(id: string, usage: TokenUsage): void {
    this.#options.store.updateSession(id, { usage });
    this.#emit(id, 'usage', usage);
  }

  /** Registers a run so that stop and close can reach it; call `end` when it is over. */
  #track(id: string): { entry: RunningSession; end: () => void } {
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
    if (session.mode === 'chat') return this.#runChatMessage(session);

    const { entry, end } = this.#track(id);
    const { controller } = entry;
    const log = logger.child({ session: id });
    try {
      const started = this.#setStatus(id, 'running');
      const outcome = await runTask(this.#runDeps(started, log), {
        session: started,
        signal: controller.signal,
        emit: (type, data) => this.#emit(id, type, data),
        recordUsage: (usage) => this.#recordUsage(id, usage),
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

  /**
   * One chat message: the first one also makes the chat's sandbox and clone, which then stay for
   * the next messages. A failed answer is told to the user and the chat goes on; only a lost
   * sandbox, a stop or a shutdown end it.
   */
  async #runChatMessage(pending: Session): Promise<void> {
    const { store, logger } = this.#options;
    const id = pending.id;
    const { entry, end } = this.#track(id);
    const { signal } = entry.controller;
    const log = logger.child({ session: id });
    const emit = (type: SessionEventType, data: unknown) => this.#emit(id, type, data);
    try {
      const session = this.#setStatus(id, 'running');
      const deps = this.#runDeps(session, log);
      let chat = this.#chats.get(id);
      if (!chat) {
        const prepared = await prepareWorkspace(deps, {
          session,
          signal,
          emit,
          onSandbox: (sandbox) => {
            entry.sandbox = sandbox;
            if (signal.aborted) void sandbox.destroy().catch(() => undefined);
          },
        });
        chat = this.#chats.add(id, prepared);
        // A chat installs the project's dependencies once, like a task's setup stage.
        const setup = await setUpWorkspace(chat.sandbox, {
          setupCommands: session.options.setupCommands,
          timeoutMs: deps.limits.setupTimeoutMs,
          signal,
          emit,
        });
        const problem = setupProblemText(setup);
        if (problem) chat.setupProblem = problem;
      }
      entry.sandbox = chat.sandbox;

      const before = session.usage;
      try {
        const { summary } = await runAgentInSandbox(
          { agent: deps.agent, llm: deps.llm, sandboxLimits: deps.sandbox.limits, agentLimits: deps.agentLimits },
          {
            sandbox: chat.sandbox,
            prompt: chatPrompt(store.listMessages(id)),
            ...(chat.setupProblem ? { instructions: chat.setupProblem } : {}),
            signal,
            emit,
            // The agent counts from zero on every message; the chat's usage is the sum of them all.
            onUsage: (usage) =>
              this.#recordUsage(id, {
                inputTokens: before.inputTokens + usage.inputTokens,
                outputTokens: before.outputTokens + usage.outputTokens,
                turns: before.turns + usage.turns,
              }),
          },
        );
        store.addMessage(id, 'assistant', summary);
        emit('output', summary);
      } catch (error) {
        if (signal.aborted || error instanceof SandboxDiedError) throw error;
        log.warn({ err: error }, 'chat message failed');
        emit('error', errorMessage(error));
        store.addMessage(id, 'assistant', `Error: ${errorMessage(error)}`);
      }
      this.#chats.touch(id);
      this.#setStatus(id, 'idle');
    } catch (error) {
      await this.#chats.close(id);
      this.#finishFailed(id, signal, error, CHAT_SHUT_DOWN, log);
    } finally {
      end();
    }
  }

  /**
   * A chat's work so far becomes a commit on its branch; the first push opens the pull request.
   * Retryable: what a failed attempt left undone (a commit not pushed, a pull request not opened)
   * is finished by the next one.
   */
  async #deliverChat(session: Session, chat: LiveChat, signal: AbortSignal): Promise<ChatPullRequest> {
    const { store, config } = this.#options;
    const id = session.id;
    let delivered;
    try {
      delivered = await deliverChange({
        session,
        sandbox: chat.sandbox,
        workspace: await chat.clone,
        provider: providerFor(session.repo, this.#options.providers, config.allowLocalRepos),
        signal,
        emit: (type, data) => this.#emit(id, type, data),
        commitMessage: commitMessage(session),
        allowWorkflowChanges: workflowChangesAllowed({ server: config.allowWorkflowChanges, repository: session.options.allowWorkflowChanges }),
        ...(chat.published ? { earlier: chat.published } : {}),
        // Recorded at once: if opening the pull request fails, the next `/pr` only opens it.
        onPushed: (sha) => (chat.published = { pushedSha: sha, pullRequestDone: false }),
        // The branch's pull request, once open, shows every later push: never open a second one.
        pullRequest: (_changedFiles, heldBack) =>
          session.prNumber !== null
            ? null
            : {
                title: pullRequestTitle(session),
                body: chatPullRequestBody({ session, messages: store.listMessages(id), usage: session.usage, heldBack }),
                ...(heldBack.length > 0 ? { draft: true } : {}),
              },
      });
    } catch (error) {
      this.#options.logger.warn({ err: error, session: id }, 'chat pull request failed');
      if (signal.aborted) {
        const why = signal.reason === ('shutdown' satisfies AbortReason) ? 'the server shut down' : 'the chat was stopped';
        throw new TeleCoderError(`could not make the pull request for chat ${id}: ${why} before it was done (${errorMessage(error)})`, 409, {
          cause: error,
        });
      }
      throw new TeleCoderError(
        `could not make the pull request for chat ${id}: ${errorMessage(error)}; ask for it again once that is fixed (what was already done is kept)`,
        500,
        { cause: error },
      );
    }
    const { heldBack } = delivered;
    if (!delivered.committed) {
      if (heldBack.length > 0) {
        throw new ConflictError(
          chat.published
            ? `nothing new to commit: chat ${id} changes nothing that is not already on ${session.branch} apart from ` +
                `${heldBackNames(heldBack)}, which are held back (their content is in the chat's events); ${ALLOW_WORKFLOW_CHANGES_HINT}`
            : `nothing to deliver: ${heldBackOnlyMessage(heldBack, { then: 'then ask for the pull request again' })}`,
        );
      }
      throw new ConflictError(
        `nothing to commit: chat ${id} changes nothing that is not already committed on ${session.branch}; ask for a change first`,
      );
    }
    chat.published = { pushedSha: chat.published?.pushedSha, pullRequestDone: true };
    let updated = session;
    if (delivered.pr) {
      updated = store.updateSession(id, { prUrl: delivered.pr.url, prNumber: delivered.pr.number });
      this.#emit(id, 'output', `Pull request ready${heldBack.length > 0 ? ' (a draft)' : ''}: ${delivered.pr.url}`);
    }
    const warning =
      heldBack.length > 0
        ? heldBackWarning(heldBack, delivered.pr ? 'the pull request body shows them' : "their content is in the chat's events")
        : undefined;
    if (warning) this.#emit(id, 'output', `Note: ${warning}`);
    return {
      url: updated.prUrl,
      number: updated.prNumber,
      branch: session.branch,
      ...(delivered.pr && heldBack.length > 0 ? { draft: true } : {}),
      ...(heldBack.length > 0 ? { heldBack: heldBack.map((file) => file.path) } : {}),
      ...(warning ? { warning } : {}),
    };
  }

  /** Chats idle past TELECODER_CHAT_IDLE_TIMEOUT give their sandbox back and end. */
  async #reapIdleChats(): Promise<void> {
    const { store, config, logger } = this.#options;
    for (const id of this.#chats.idleLongerThan(config.chatIdleTimeoutMs)) {
      // Asked again for each chat: closing the one before took time, in which a `/pr` or a
      // message may have started on this one.
      if (store.getSession(id)?.status !== 'idle' || !this.#chats.isIdleLongerThan(id, config.chatIdleTimeoutMs)) continue;
      logger.info({ session: id }, 'closing idle chat');
      await this.#chats.close(id);
      // A stop may have ended it while the sandbox was being removed.
      const session = store.getSession(id);
      if (!session || isFinal(session.status)) continue;
      this.#finish(id, 'complete', {
        result: {
          type: 'text',
          content: `chat closed after ${ms(config.chatIdleTimeoutMs)} idle`,
          ...(session.prUrl !== null && session.prNumber !== null ? { prUrl: session.prUrl, prNumber: session.prNumber } : {}),
        },
      });
    }
  }
}
