import type { AgentRunResult, CodingAgent } from '../agent/coding-agent.js';
import type { GatewayUsage } from '../gateway/llm-gateway-types.js';
import type { LLMClient } from '../llm/client.js';
import type { SessionEventType, TokenUsage } from '../model/session.js';
import type { Sandbox, SandboxExit, SandboxLimits } from '../sandbox/runtime.js';

export function describeSandboxExit(exit: SandboxExit, limits: SandboxLimits): string {
  switch (exit.reason) {
    case 'oom':
      return `the sandbox ran out of memory (limit ${Math.round(limits.memoryBytes / 2 ** 20)} MiB) and was killed; raise TELECODER_SANDBOX_MEMORY if the task needs more`;
    case 'wall-clock':
      return `the sandbox reached its wall-clock limit of ${Math.round(limits.wallClockMs / 1000)} s and was killed; raise TELECODER_SANDBOX_TIMEOUT for longer tasks`;
    case 'disk':
      return `the sandbox went past its disk limit of ${formatLimit(limits.diskBytes)} and was killed; raise TELECODER_SANDBOX_DISK if the task needs more`;
    case 'killed':
    case 'removed':
      return 'the sandbox container was killed or removed while the task was running';
    default:
      return `the sandbox stopped unexpectedly (exit code ${exit.exitCode})`;
  }
}

function formatLimit(bytes: number | undefined): string {
  if (bytes === undefined) return 'unknown size';
  return bytes >= 2 ** 30 ? `${Math.round((bytes / 2 ** 30) * 10) / 10} GiB` : `${Math.round(bytes / 2 ** 20)} MiB`;
}

/** The sandbox itself is gone: nothing more can run in it (a chat ends, it does not go on). */
export class SandboxDiedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SandboxDiedError';
  }
}

export interface RunAgentDeps {
  agent: CodingAgent;
  llm: LLMClient;
  sandboxLimits: SandboxLimits;
  agentLimits: { maxTurns: number; commandTimeoutMs: number };
}

export interface RunAgentContext {
  sandbox: Sandbox;
  prompt: string;
  /** Extra system instructions (the project's AGENTS.md, the repository configuration). */
  instructions?: string | undefined;
  signal: AbortSignal;
  emit(type: SessionEventType, data: unknown): void;
  /** The agent's usage of this run so far (it starts at zero on every run). */
  onUsage(usage: TokenUsage): void;
  /**
   * One gateway request's usage, with the model that served it (external agents). Without it,
   * requests are added into the run's totals given to onUsage.
   */
  onRequestUsage?(usage: GatewayUsage): void;
  /** Why the session may not spend more, or null (external agents' gateway asks before each request). */
  spendingRefusal?(): string | null;
}

/**
 * Runs the coding agent in the sandbox and fails as soon as the sandbox dies, instead of waiting
 * for the agent to notice through a failed command.
 */
export async function runAgentInSandbox(deps: RunAgentDeps, context: RunAgentContext): Promise<AgentRunResult> {
  const { sandbox } = context;
  const died = sandbox.exited.then((exit) => {
    throw new SandboxDiedError(describeSandboxExit(exit, deps.sandboxLimits));
  });
  // The agent's own promise is awaited through the race; keep a rejection of the loser quiet.
  died.catch(() => undefined);
  const requests: TokenUsage = { inputTokens: 0, outputTokens: 0, turns: 0 };
  const agentRun = deps.agent.run({
    sandbox,
    llm: deps.llm,
    prompt: context.prompt,
    ...(context.instructions ? { instructions: context.instructions } : {}),
    maxTurns: deps.agentLimits.maxTurns,
    commandTimeoutMs: deps.agentLimits.commandTimeoutMs,
    signal: context.signal,
    ...(context.spendingRefusal ? { spendingRefusal: context.spendingRefusal } : {}),
    onEvent: (type, data) => {
      if (type === 'usage') context.onUsage(data as TokenUsage);
      else if (type === 'request-usage') {
        const request = data as GatewayUsage;
        if (context.onRequestUsage) context.onRequestUsage(request);
        else {
          requests.inputTokens += request.inputTokens;
          requests.outputTokens += request.outputTokens;
          requests.turns += 1;
          context.onUsage({ ...requests });
        }
      } else context.emit(type, data);
    },
  });
  agentRun.catch(() => undefined);
  let result: AgentRunResult;
  try {
    result = await Promise.race([agentRun, died]);
  } catch (error) {
    // A command in flight when the sandbox died often fails a moment before `exited` resolves;
    // the exit's own description names the limit it hit and the setting to raise.
    if ((error as { name?: unknown } | null)?.name === 'SandboxStoppedError') {
      const exit = await settledWithin(sandbox.exited, EXIT_SETTLE_MS);
      if (exit) throw new SandboxDiedError(describeSandboxExit(exit, deps.sandboxLimits));
    }
    throw error;
  }
  context.onUsage(result.usage);
  return result;
}

/** How long a stopped sandbox's exit may take to be known after a command saw it stop. */
const EXIT_SETTLE_MS = 3_000;

async function settledWithin<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
