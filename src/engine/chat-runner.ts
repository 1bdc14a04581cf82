import ms from 'ms';
import { ConflictError, TeleCoderError, errorMessage } from '../errors.js';
import { ALLOW_WORKFLOW_CHANGES_HINT, workflowChangesAllowed } from '../git/held-back-paths.js';
import { sandboxDiffText } from '../git/sandbox-patch.js';
import type { GitProvider } from '../gitprovider/provider.js';
import type { Logger } from '../logger.js';
import { isFinal, type Message, type Session, type SessionEventType, type SessionStatus, type TokenUsage } from '../model/session.js';
import { setUpWorkspace, setupProblemText } from '../pipeline/setup/set-up-workspace.js';
import type { SessionStore } from '../store/session-store.js';
import { ChatSessions, type LiveChat } from './chat-sessions.js';
import { chatPrompt, chatPullRequestBody } from './chat-text.js';
import { deliverChange, DELIVERED_DIFF_MAX_BYTES } from './deliver-change.js';
import { heldBackNames, heldBackOnlyMessage, heldBackWarning } from './held-back-text.js';
import { prepareWorkspace } from './prepare-workspace.js';
import { commitMessage, pullRequestTitle } from './pull-request-text.js';
import { runAgentInSandbox, SandboxDiedError } from './run-agent-in-sandbox.js';
import type { AbortReason, RunningSessions } from './running-sessions.js';
import type { SessionParts } from './session-parts.js';
import type { ChatPullRequest } from './session-service.js';

/** What the engine lends the chat runner: how a session's record moves, and its queue. */
export interface SessionLifecycle {
  get(id: string): Session;
  emit(id: string, type: SessionEventType, data: unknown): void;
  setStatus(id: string, status: SessionStatus): Session;
  finish(id: string, status: 'complete' | 'error' | 'stopped', fields: { error?: string; result?: Session['result']; usage?: TokenUsage }): Session;
  recordUsage(id: string, usage: TokenUsage): void;
  /** Ends a run its catch block got: stopped, interrupted by shutdown, or failed with the reason. */
  finishFailed(id: string, signal: AbortSignal, error: unknown, interrupted: string, log: Logger): void;
  enqueue(id: string): void;
  /** False once the engine is closing: nothing new is taken. */
  accepting(): boolean;
}

export interface ChatRunnerOptions {
  store: SessionStore;
  logger: Logger;
  config: { chatIdleTimeoutMs: number; chatMaxMessages: number; allowWorkflowChanges: boolean };
  parts: SessionParts;
  /** The git provider serving a repository (a `/pr` needs only that, not a session's parts). */
  providerFor(repo: string): GitProvider;
  running: RunningSessions;
  lifecycle: SessionLifecycle;
  /** How often idle chats are looked for; default 30 s. */
  reapIntervalMs?: number;
}

const STOP_WAIT_MS = 15_000;
const DEFAULT_REAP_INTERVAL_MS = 30_000;
const CHAT_RESTARTED = "interrupted: the TeleCoder server restarted and this chat's sandbox is gone; start a new chat";
const CHAT_SHUT_DOWN = "interrupted: the TeleCoder server shut down and this chat's sandbox is gone; start a new chat";

/**
 * Chat sessions: a sandbox and a clone kept from the first message to the end, one agent run per
 * message, `/pr` whenever asked, and an end by stop, idle time or shutdown. The engine queues
 * and tracks the runs; everything that is only a chat's lives here.
 */
export class ChatRunner {
  readonly #options: ChatRunnerOptions;
  readonly #chats: ChatSessions;
  #reaper: NodeJS.Timeout | undefined;

  constructor(options: ChatRunnerOptions) {
    this.#options = options;
    this.#chats = new ChatSessions({ logger: options.logger });
  }

  /**
   * Chats a crash or restart interrupted end: their sandboxes are gone. A chat queued with only
   * its first message never had a sandbox and starts as if new. Then idle chats are reaped.
   */
  start(): void {
    const { store, lifecycle, logger } = this.#options;
    for (const session of store.listSessions({ status: ['running', 'idle'] })) {
      if (session.mode === 'chat') lifecycle.finish(session.id, 'error', { error: CHAT_RESTARTED });
    }
    for (const session of store.listSessions({ status: 'pending' })) {
      if (session.mode === 'chat' && store.listMessages(session.id).length > 1) lifecycle.finish(session.id, 'error', { error: CHAT_RESTARTED });
    }
    this.#reaper = setInterval(() => {
      void this.#reapIdleChats().catch((error: unknown) => logger.error({ err: error }, 'reaping idle chats failed'));
    }, this.#options.reapIntervalMs ?? DEFAULT_REAP_INTERVAL_MS);
    this.#reaper.unref();
  }

  /**
   * Ends the chats with no run under way (between messages, or one queued). One making a pull
   * request is closed only once its push and pull request are done, or `waitMs` is over, so its
   * clone is never removed under the push.
   */
  async close(waitMs: number): Promise<void> {
    clearInterval(this.#reaper);
    const idleChats = this.#chats.ids().filter((id) => !this.#options.running.has(id));
    await Promise.allSettled(
      idleChats.map(async (id) => {
        await this.#chats.close(id, { waitMs, reason: 'shutdown' satisfies AbortReason });
        const session = this.#options.store.getSession(id);
        if (session && !isFinal(session.status)) this.#options.lifecycle.finish(id, 'error', { error: CHAT_SHUT_DOWN });
      }),
    );
  }

  sendMessage(id: string, content: string, options: { deliveryId?: string; deliveryKind?: string } = {}): Message {
    const { store, config, lifecycle } = this.#options;
    const session = this.#chatSession(id, 'messages can only be sent to chat sessions');
    const chat = this.#chats.get(id);
    this.#refuseIfClosing(session, chat);
    if (session.status !== 'idle' || !chat || chat.delivering) {
      throw new ConflictError(
        `chat ${id} is busy (${chat?.delivering ? 'making a pull request' : 'working on a message'}); wait for the current message to finish, then send the next one`,
      );
    }
    if (!lifecycle.accepting()) {
      throw new TeleCoderError('the server is shutting down and takes no new work; try again in a moment', 503);
    }
    const sent = store.listMessages(id).filter((message) => message.role === 'user').length;
    if (sent >= config.chatMaxMessages) {
      throw new ConflictError(
        `chat ${id} reached its limit of ${config.chatMaxMessages} messages (TELECODER_CHAT_MAX_MESSAGES); open a pull request with what it has, or start a new chat`,
      );
    }
    const message = store.addMessage(
      id,
      'user',
      content,
      options.deliveryId !== undefined ? { id: options.deliveryId, kind: options.deliveryKind ?? 'message' } : undefined,
    );
    lifecycle.setStatus(id, 'pending');
    lifecycle.enqueue(id);
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
    return this.#chats.deliver(chat, (signal) => this.#deliver(session, chat, signal));
  }

  /**
   * Stops a chat with no run under way (between messages, or with one queued, whose queue entry
   * then sees the final status). A `/pr` in flight is let finish first, so the branch and pull
   * request are whole.
   */
  async stopIdle(id: string): Promise<Session> {
    const { lifecycle } = this.#options;
    await this.#chats.close(id, { waitMs: STOP_WAIT_MS, reason: 'stop' satisfies AbortReason });
    const current = lifecycle.get(id);
    return isFinal(current.status) ? current : lifecycle.finish(id, 'stopped', { error: 'stopped by request' });
  }

  /** What a live chat changed so far, read in its sandbox; undefined when it has no live sandbox. */
  async liveDiff(id: string, signal?: AbortSignal): Promise<string | undefined> {
    const chat = this.#chats.get(id);
    if (!chat) return undefined;
    return sandboxDiffText(chat.sandbox, chat.base.sha, { maxBytes: DELIVERED_DIFF_MAX_BYTES, ...(signal ? { signal } : {}) });
  }

  /**
   * One chat message: the first one also makes the chat's sandbox and clone, which then stay for
   * the next messages. A failed answer is told to the user and the chat goes on; only a lost
   * sandbox, a stop or a shutdown end it.
   */
  async runMessage(pending: Session): Promise<void> {
    const { store, logger, lifecycle, running } = this.#options;
    const id = pending.id;
    const { entry, end } = running.track(id);
    const { signal } = entry.controller;
    const log = logger.child({ session: id });
    const emit = (type: SessionEventType, data: unknown) => lifecycle.emit(id, type, data);
    try {
      const session = lifecycle.setStatus(id, 'running');
      const deps = this.#options.parts(session, log);
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
              lifecycle.recordUsage(id, {
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
      lifecycle.setStatus(id, 'idle');
    } catch (error) {
      await this.#chats.close(id);
      lifecycle.finishFailed(id, signal, error, CHAT_SHUT_DOWN, log);
    } finally {
      end();
    }
  }

  /** An idle chat that is no longer live is being closed (stop, idle reaper, shutdown): it takes nothing more. */
  #refuseIfClosing(session: Session, chat: LiveChat | undefined): void {
    if (session.status === 'idle' && !chat) {
      throw new ConflictError(`chat ${session.id} is ending (stopped, idle too long, or the server is shutting down); start a new chat`);
    }
  }

  /** The chat session with this id; a ConflictError (saying `taskHint`) for a task, or an ended chat. */
  #chatSession(id: string, taskHint: string): Session {
    const session = this.#options.lifecycle.get(id);
    if (session.mode !== 'chat') throw new ConflictError(`session ${id} is a ${session.mode} session; ${taskHint}`);
    if (isFinal(session.status)) {
      throw new ConflictError(`chat ${id} has ended (${session.status}${session.error ? `: ${session.error}` : ''}); start a new chat`);
    }
    return session;
  }

  /**
   * A chat's work so far becomes a commit on its branch; the first push opens the pull request.
   * Retryable: what a failed attempt left undone (a commit not pushed, a pull request not opened)
   * is finished by the next one.
   */
  async #deliver(session: Session, chat: LiveChat, signal: AbortSignal): Promise<ChatPullRequest> {
    const { store, config, lifecycle, logger } = this.#options;
    const id = session.id;
    let delivered;
    try {
      delivered = await deliverChange({
        session,
        sandbox: chat.sandbox,
        workspace: await chat.clone,
        provider: this.#options.providerFor(session.repo),
        signal,
        emit: (type, data) => lifecycle.emit(id, type, data),
        commitMessage: commitMessage(session),
        allowWorkflowChanges: workflowChangesAllowed({ server: config.allowWorkflowChanges, repository: session.options.allowWorkflowChanges }),
        ...(chat.published ? { earlier: chat.published } : {}),
        // Recorded at once: if opening the pull request fails, the next `/pr` only opens it.
        onPushed: (sha) => (chat.published = { pushedSha: sha, pullRequestDone: false }),
        recordDiff: (diff) => store.saveDiff(id, diff),
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
      logger.warn({ err: error, session: id }, 'chat pull request failed');
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
      lifecycle.emit(id, 'output', `Pull request ready${heldBack.length > 0 ? ' (a draft)' : ''}: ${delivered.pr.url}`);
    }
    const warning =
      heldBack.length > 0
        ? heldBackWarning(heldBack, delivered.pr ? 'the pull request body shows them' : "their content is in the chat's events")
        : undefined;
    if (warning) lifecycle.emit(id, 'output', `Note: ${warning}`);
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
    const { store, config, logger, lifecycle } = this.#options;
    for (const id of this.#chats.idleLongerThan(config.chatIdleTimeoutMs)) {
      // Asked again for each chat: closing the one before took time, in which a `/pr` or a
      // message may have started on this one.
      if (store.getSession(id)?.status !== 'idle' || !this.#chats.isIdleLongerThan(id, config.chatIdleTimeoutMs)) continue;
      logger.info({ session: id }, 'closing idle chat');
      await this.#chats.close(id);
      // A stop may have ended it while the sandbox was being removed.
      const session = store.getSession(id);
      if (!session || isFinal(session.status)) continue;
      lifecycle.finish(id, 'complete', {
        result: {
          type: 'text',
          content: `chat closed after ${ms(config.chatIdleTimeoutMs)} idle`,
          ...(session.prUrl !== null && session.prNumber !== null ? { prUrl: session.prUrl, prNumber: session.prNumber } : {}),
        },
      });
    }
  }
}
