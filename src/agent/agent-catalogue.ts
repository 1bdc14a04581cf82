import { NotConfiguredError, TeleCoderError } from '../errors.js';
import { CODING_AGENT_CHOICES, isCodingAgentChoice, resolveAgentChoice, type CodingAgentChoice } from './agent-names.js';
import type { CodingAgent } from './coding-agent.js';

export interface AgentCatalogueOptions {
  /** The agents this server can run, by name. */
  agents: CodingAgent[];
  /** TELECODER_CODING_AGENT: what a session gets when it names none. */
  defaultChoice: CodingAgentChoice | string;
  /** The provider the server holds a key for (it decides `auto`). */
  provider: () => 'anthropic' | 'openai' | undefined;
}

/**
 * Which agent a session runs. A request may name one (API `agent`, `telecoder run --agent`, a
 * repository's `agent:`); `auto` and an absent name are turned into a concrete name at submit, so
 * the session records what actually ran.
 */
export class AgentCatalogue {
  readonly #agents: Map<string, CodingAgent>;
  readonly #options: AgentCatalogueOptions;

  constructor(options: AgentCatalogueOptions) {
    this.#agents = new Map(options.agents.map((agent) => [agent.name, agent]));
    this.#options = options;
  }

  /**
   * The agent's name for a request; throws a 400 for a name this server cannot run, and a 503 for
   * an agent that needs a provider key the server lacks.
   */
  resolve(requested: string | undefined): string {
    const choice = requested?.trim() || this.#options.defaultChoice;
    const agent = this.#agents.get(choice);
    if (agent) {
      const missing = agent.unavailableReason?.();
      if (missing) throw new NotConfiguredError(missing);
      return choice;
    }
    if (choice === 'auto') {
      const ready = new Set([...this.#agents.values()].filter((candidate) => !candidate.unavailableReason?.()).map((candidate) => candidate.name));
      const name = resolveAgentChoice('auto', this.#options.provider(), ready);
      return this.#agents.has(name) ? name : [...this.#agents.keys()][0]!;
    }
    const available = [...this.#agents.keys(), 'auto'].map((name) => `"${name}"`).join(', ');
    if (!isCodingAgentChoice(choice)) {
      throw new TeleCoderError(`unknown agent "${choice}": this server runs ${available} (or leave agent out for its default)`);
    }
    throw new TeleCoderError(
      `agent "${choice}" is not available on this server; it runs ${available}` +
        ` (known agents: ${CODING_AGENT_CHOICES.join(', ')})`,
    );
  }

  /** The agent a stored session named; an older session's unknown name falls back to the default. */
  agentFor(name: string | null | undefined): CodingAgent {
    const agent = (name ? this.#agents.get(name) : undefined) ?? this.#agents.get(this.resolve(undefined));
    if (!agent) throw new TeleCoderError(`agent "${name}" is not available on this server`);
    return agent;
  }
}
