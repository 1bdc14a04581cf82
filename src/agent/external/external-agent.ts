import { StringDecoder } from 'node:string_decoder';
import type { TokenUsage } from '../../model/session.js';
import type { GatewayUsage, LLMGateway } from '../../gateway/llm-gateway-types.js';
import { gatewayBaseUrl, GATEWAY_SANDBOX_PORT } from '../../gateway/gateway-port.js';
import type { Sandbox } from '../../sandbox/runtime.js';
import type { AgentRunInput, AgentRunResult, CodingAgent } from '../coding-agent.js';
import type { AgentCli, GatewayApi } from './agent-cli.js';

export interface ExternalAgentOptions {
  cli: AgentCli;
  gateway: LLMGateway;
  /** The providers the server can forward to, the configured one first; the agent speaks one of them. */
  apis: () => GatewayApi[];
  /**
   * The model for a run: the session's own when the agent speaks the configured provider, else
   * that provider's default (a session on OpenAI's model running Claude Code, say).
   */
  modelFor: (api: GatewayApi, sessionModel: string) => string;
  /** TELECODER_AGENT_TIMEOUT: the whole run, after which the agent is killed. */
  timeoutMs: number;
}

/** The sandbox user's home in the TeleCoder image, where each agent keeps its configuration. */
const SANDBOX_HOME = '/home/sandbox';
/** A line longer than this (a huge tool result echoed) is cut before parsing; its event is lost, not the run. */
const MAX_LINE_CHARS = 1024 * 1024;
const STDERR_TAIL_CHARS = 2_000;
const VERSION_CHECK_MS = 30_000;

/** The agent's own failure: it exited badly, timed out, or said it failed. */
export class ExternalAgentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExternalAgentError';
  }
}

function abortError(signal: AbortSignal): Error {
  const error = new Error('the agent was stopped', { cause: signal.reason });
  error.name = 'AbortError';
  return error;
}

const minutes = (ms: number) => (ms >= 60_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 1000)} s`);

/**
 * Runs a coding agent CLI (Claude Code, OpenCode, Codex) inside the sandbox as the sandbox user.
 * It never sees a provider key: it talks to the gateway through the sandbox's loopback, with a
 * token that is valid for this session while this run lasts. Its output lines become the
 * session's events; its exit, its time limit and a refused request end the run honestly.
 */
export class ExternalAgent implements CodingAgent {
  readonly name: string;
  readonly #options: ExternalAgentOptions;

  constructor(options: ExternalAgentOptions) {
    this.name = options.cli.name;
    this.#options = options;
  }

  async run(input: AgentRunInput): Promise<AgentRunResult> {
    const { cli, gateway, timeoutMs } = this.#options;
    const { sandbox, signal } = input;
    const api = this.#chooseApi();
    if (!sandbox.serveLoopbackPort) {
      throw new ExternalAgentError(`the sandbox runtime cannot run external agents (it has no loopback tunnel); use the builtin agent`);
    }
    await this.#checkInstalled(sandbox, signal);

    const usage: TokenUsage = { inputTokens: 0, outputTokens: 0, turns: 0 };
    let refused: string | undefined;
    const grant = gateway.grant({
      sessionId: sandbox.sessionId,
      refusal: () => input.spendingRefusal?.() ?? null,
      onUsage: (request: GatewayUsage) => {
        usage.inputTokens += request.inputTokens;
        usage.outputTokens += request.outputTokens;
        usage.turns += 1;
        input.onEvent('request-usage', request);
      },
      onRefused: (reason) => (refused ??= reason),
    });
    try {
      const tunnel = await sandbox.serveLoopbackPort(GATEWAY_SANDBOX_PORT, (socket) => gateway.accept(socket, sandbox.sessionId));
      try {
        const base = gatewayBaseUrl();
        const launch = cli.launch({
          prompt: input.prompt,
          ...(input.instructions ? { instructions: input.instructions } : {}),
          gateway: { anthropicBaseUrl: `${base}/anthropic`, openaiBaseUrl: `${base}/openai/v1`, token: grant.token, api, model: this.#options.modelFor(api, input.llm.model) },
          workspace: sandbox.workspace,
          home: SANDBOX_HOME,
          maxTurns: input.maxTurns,
        });
        for (const file of launch.files) await sandbox.writeFile(file.path, file.content);
        const outcome = await this.#execute(sandbox, launch.argv, launch.env, input).catch((error: unknown) => {
          if (signal.aborted) throw abortError(signal);
          throw error;
        });
        if (signal.aborted) throw abortError(signal);
        if (refused) throw new ExternalAgentError(refused);
        const tunnelError = await Promise.race([tunnel.ended, Promise.resolve(undefined)]);
        if (outcome.timedOut) {
          throw new ExternalAgentError(`the ${cli.name} agent did not finish within ${minutes(timeoutMs)} and was stopped; raise TELECODER_AGENT_TIMEOUT for longer tasks`);
        }
        // The agent's own account of a failure (a refused request, its turn limit) says more than its exit code.
        if (outcome.result?.isError) throw new ExternalAgentError(`the ${cli.name} agent reported a failure: ${outcome.result.summary}`);
        if (outcome.exitCode !== 0) {
          const why = tunnelError ? ` (its connection to the LLM gateway broke: ${tunnelError.message})` : '';
          throw new ExternalAgentError(
            `the ${cli.name} agent exited with code ${outcome.exitCode}${why}${outcome.stderrTail ? `: ${outcome.stderrTail}` : ''}`,
          );
        }
        return { summary: outcome.result?.summary.trim() || outcome.lastText.trim() || '(the agent finished without a summary)', usage: { ...usage } };
      } finally {
        await tunnel.close();
      }
    } finally {
      grant.revoke();
    }
  }

  unavailableReason(): string | undefined {
    const { cli } = this.#options;
    const available = this.#options.apis();
    if (available.some((name) => cli.apis.includes(name))) return undefined;
    const keys = cli.apis.map((name) => (name === 'anthropic' ? 'ANTHROPIC_API_KEY' : 'OPENAI_API_KEY')).join(' or ');
    return `the ${cli.name} agent needs ${keys} on the server${available.length > 0 ? ` (it has a key for ${available.join(' and ')} only)` : ''}; set it, or choose another agent`;
  }

  #chooseApi(): GatewayApi {
    const api = this.#options.apis().find((name) => this.#options.cli.apis.includes(name));
    if (!api) throw new ExternalAgentError(this.unavailableReason() ?? `the ${this.name} agent cannot run on this server`);
    return api;
  }

  async #checkInstalled(sandbox: Sandbox, signal: AbortSignal): Promise<void> {
    const { cli } = this.#options;
    const check = await sandbox.exec(['sh', '-c', `command -v ${cli.binary} >/dev/null && ${cli.binary} --version`], {
      timeoutMs: VERSION_CHECK_MS,
      signal,
    });
    if (check.exitCode !== 0) {
      throw new ExternalAgentError(
        `the ${cli.name} agent is not installed in the sandbox image (\`${cli.binary} --version\` failed); ` +
          'build the image with INSTALL_CODING_AGENTS=true (the default, see sandbox/README.md) or choose another agent',
      );
    }
  }

  async #execute(sandbox: Sandbox, argv: string[], env: Record<string, string>, input: AgentRunInput) {
    const { cli, timeoutMs } = this.#options;
    const stream = await sandbox.execStream(argv, { timeoutMs, env, cwd: sandbox.workspace, signal: input.signal, maxOutputBytes: 64 * 1024 });
    let result: { summary: string; isError?: boolean } | undefined;
    let lastText = '';
    const decoder = new StringDecoder('utf8');
    let pending = '';
    const handle = (line: string) => {
      if (line.trim() === '') return;
      for (const event of cli.parseLine(line.length > MAX_LINE_CHARS ? line.slice(0, MAX_LINE_CHARS) : line)) {
        if (event.kind === 'output') {
          lastText = event.text;
          input.onEvent('output', event.text);
        } else if (event.kind === 'tool') {
          input.onEvent('tool', { name: event.name, arguments: event.arguments });
        } else {
          result = { summary: event.summary, ...(event.isError ? { isError: true } : {}) };
        }
      }
    };
    for await (const chunk of stream.stdout) {
      pending += decoder.write(chunk as Buffer);
      let newline = pending.indexOf('\n');
      while (newline !== -1) {
        handle(pending.slice(0, newline));
        pending = pending.slice(newline + 1);
        newline = pending.indexOf('\n');
      }
      // A line with no end in sight is kept only up to the limit.
      if (pending.length > MAX_LINE_CHARS * 2) pending = pending.slice(0, MAX_LINE_CHARS);
    }
    handle(pending + decoder.end());
    const ended = await stream.result;
    const stderr = ended.stderr.trim();
    return {
      exitCode: ended.exitCode,
      timedOut: ended.timedOut,
      stderrTail: stderr.length > STDERR_TAIL_CHARS ? `…${stderr.slice(-STDERR_TAIL_CHARS)}` : stderr,
      result,
      lastText,
    };
  }
}
