/**
 * A session's spending limits — turns, tokens, cost — and what it has spent so far, overall and
 * per pipeline stage. Crossing a limit aborts `signal`, so an agent loop or an LLM request that
 * takes it is cut at once rather than at the next check.
 */
import type { CompletionUsage } from '../llm/client.js';
import { costUsd, DEFAULT_PRICES, type PriceTable } from './pricing.js';

export interface BudgetLimits {
  /** LLM round trips. */
  maxTurns?: number;
  /** Input plus output tokens. */
  maxTokens?: number;
  maxCostUsd?: number;
}

export interface BudgetEntry {
  stage: string;
  /** The model that was billed, as the API reported it. */
  model: string;
  usage: CompletionUsage;
  /** LLM round trips this entry stands for; default 1. */
  turns?: number;
}

export interface SpendTotals {
  inputTokens: number;
  outputTokens: number;
  /** inputTokens + outputTokens. */
  tokens: number;
  turns: number;
  /** USD; null when a model in `unpricedModels` was used, because its part is unknown. */
  costUsd: number | null;
  /** USD of the models that have a price: the whole cost when `unpricedModels` is empty, else a lower bound. */
  pricedCostUsd: number;
  /** Models used that the price table does not know (set TELECODER_PRICES for them). */
  unpricedModels: string[];
}

export interface BudgetTotals extends SpendTotals {
  stages: Record<string, SpendTotals>;
}

export type BudgetLimitName = 'turns' | 'tokens' | 'cost';

export class BudgetExceededError extends Error {
  readonly limit: BudgetLimitName;
  constructor(limit: BudgetLimitName, reason: string) {
    super(reason);
    this.name = 'BudgetExceededError';
    this.limit = limit;
  }
}

export interface BudgetOptions {
  limits?: BudgetLimits;
  /** Default: DEFAULT_PRICES. Pass priceTable(parsePriceOverrides(env.TELECODER_PRICES)). */
  prices?: PriceTable;
}

class Spend {
  inputTokens = 0;
  outputTokens = 0;
  turns = 0;
  pricedCostUsd = 0;
  readonly unpriced = new Set<string>();

  add(entry: BudgetEntry, cost: number | null): void {
    this.inputTokens += entry.usage.inputTokens;
    this.outputTokens += entry.usage.outputTokens;
    this.turns += entry.turns ?? 1;
    if (cost === null) this.unpriced.add(entry.model);
    else this.pricedCostUsd += cost;
  }

  totals(): SpendTotals {
    return {
      inputTokens: this.inputTokens,
      outputTokens: this.outputTokens,
      tokens: this.inputTokens + this.outputTokens,
      turns: this.turns,
      costUsd: this.unpriced.size > 0 ? null : this.pricedCostUsd,
      pricedCostUsd: this.pricedCostUsd,
      unpricedModels: [...this.unpriced].sort(),
    };
  }
}

function checkLimit(name: keyof BudgetLimits, value: number | undefined): void {
  if (value === undefined) return;
  if (!Number.isFinite(value) || value <= 0) {
    throw new Error(`Budget: ${name} must be a positive number (leave it out for no limit), got ${value}`);
  }
}

const count = (n: number) => n.toLocaleString('en-US');

/** Cents for amounts from a dollar up; below that, enough digits that small limits stay readable. */
export function formatUsd(amount: number): string {
  if (amount >= 1 || amount === 0) return `$${amount.toFixed(2)}`;
  return `$${amount.toFixed(4).replace(/0{1,2}$/, '')}`;
}

export class Budget {
  readonly limits: Readonly<BudgetLimits>;
  readonly #prices: PriceTable;
  readonly #overall = new Spend();
  readonly #stages = new Map<string, Spend>();
  readonly #controller = new AbortController();

  constructor(options: BudgetOptions = {}) {
    const limits = options.limits ?? {};
    checkLimit('maxTurns', limits.maxTurns);
    checkLimit('maxTokens', limits.maxTokens);
    checkLimit('maxCostUsd', limits.maxCostUsd);
    this.limits = Object.freeze({ ...limits });
    this.#prices = options.prices ?? DEFAULT_PRICES;
  }

  /** Aborts, with the BudgetExceededError as its reason, when a recorded entry reaches a limit. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  record(entry: BudgetEntry): void {
    const cost = costUsd(entry.model, entry.usage, this.#prices);
    this.#overall.add(entry, cost);
    let stage = this.#stages.get(entry.stage);
    if (!stage) {
      stage = new Spend();
      this.#stages.set(entry.stage, stage);
    }
    stage.add(entry, cost);
    if (!this.#controller.signal.aborted) {
      const error = this.#exceededError();
      if (error) this.#controller.abort(error);
    }
  }

  totals(): BudgetTotals {
    const stages: Record<string, SpendTotals> = {};
    for (const [name, spend] of this.#stages) stages[name] = spend.totals();
    return { ...this.#overall.totals(), stages };
  }

  /** Why the session may not go on, or null while it is within every limit. */
  exceeded(): string | null {
    return this.#exceededError()?.message ?? null;
  }

  /** Throws BudgetExceededError once a limit is reached; call it before starting more work. */
  check(): void {
    const error = this.#exceededError();
    if (error) throw error;
  }

  /** A limit counts as exceeded once reached: the next turn would go past it. */
  #exceededError(): BudgetExceededError | null {
    const spent = this.#overall.totals();
    const { maxTurns, maxTokens, maxCostUsd } = this.limits;
    if (maxCostUsd !== undefined && spent.pricedCostUsd >= maxCostUsd) {
      // Unpriced models only add to the cost, so the priced part alone reaching the limit is enough.
      const atLeast = spent.unpricedModels.length > 0 ? 'at least ' : '';
      return new BudgetExceededError(
        'cost',
        `the session reached its cost budget: ${atLeast}${formatUsd(spent.pricedCostUsd)} of ${formatUsd(maxCostUsd)}`,
      );
    }
    if (maxTokens !== undefined && spent.tokens >= maxTokens) {
      return new BudgetExceededError(
        'tokens',
        `the session reached its token budget: ${count(spent.tokens)} of ${count(maxTokens)} tokens`,
      );
    }
    if (maxTurns !== undefined && spent.turns >= maxTurns) {
      return new BudgetExceededError(
        'turns',
        `the session reached its turn budget: ${count(spent.turns)} of ${count(maxTurns)} turns`,
      );
    }
    return null;
  }

  /**
   * Why the cost limit cannot be fully enforced (a model without a price was used), or null. The
   * limit still applies to the priced part; callers should surface this once.
   */
  costLimitWarning(): string | null {
    const { unpricedModels } = this.#overall.totals();
    if (this.limits.maxCostUsd === undefined || unpricedModels.length === 0) return null;
    return (
      `the cost budget counts only priced models: ${unpricedModels.join(', ')} ` +
      `${unpricedModels.length === 1 ? 'has' : 'have'} no price; add ${unpricedModels.length === 1 ? 'it' : 'them'} to TELECODER_PRICES`
    );
  }
}
