/**
 * What tokens cost, per model, in USD per million tokens. A model missing from the table has an
 * unknown cost (null): a guessed price would make a cost budget lie.
 */
import { z } from 'zod';
import type { CompletionUsage } from '../llm/client.js';

export interface ModelPrice {
  /** USD per million input tokens. */
  input: number;
  /** USD per million output tokens. */
  output: number;
}

export type PriceTable = Readonly<Record<string, ModelPrice>>;

const sonnet: ModelPrice = { input: 3, output: 15 };
const opus4: ModelPrice = { input: 15, output: 75 };
const opus45: ModelPrice = { input: 5, output: 25 };
const haiku45: ModelPrice = { input: 1, output: 5 };
const gpt41: ModelPrice = { input: 2, output: 8 };
const gpt41mini: ModelPrice = { input: 0.4, output: 1.6 };
const gpt41nano: ModelPrice = { input: 0.1, output: 0.4 };
const gpt4o: ModelPrice = { input: 2.5, output: 10 };
const gpt4omini: ModelPrice = { input: 0.15, output: 0.6 };

/**
 * Published list prices, without caching or batch discounts. THEY ARE NOT CHECKED AUTOMATICALLY:
 * verify them against the providers' pricing pages and correct them with TELECODER_PRICES.
 * Dated snapshot names are listed one by one because the APIs answer with them (OpenAI reports
 * `gpt-4.1-2025-04-14` for a `gpt-4.1` request) and an older snapshot may be priced differently
 * (`gpt-4o-2024-05-13` was), so a name is never matched by stripping its date.
 */
export const DEFAULT_PRICES: PriceTable = Object.freeze({
  'claude-sonnet-4-6': sonnet,
  'claude-sonnet-4-5': sonnet,
  'claude-sonnet-4-5-20250929': sonnet,
  'claude-sonnet-4-0': sonnet,
  'claude-sonnet-4-20250514': sonnet,
  'claude-opus-4-6': opus45,
  'claude-opus-4-5': opus45,
  'claude-opus-4-5-20251101': opus45,
  'claude-opus-4-1': opus4,
  'claude-opus-4-1-20250805': opus4,
  'claude-opus-4-0': opus4,
  'claude-opus-4-20250514': opus4,
  'claude-haiku-4-5': haiku45,
  'claude-haiku-4-5-20251001': haiku45,
  'gpt-4.1': gpt41,
  'gpt-4.1-2025-04-14': gpt41,
  'gpt-4.1-mini': gpt41mini,
  'gpt-4.1-mini-2025-04-14': gpt41mini,
  'gpt-4.1-nano': gpt41nano,
  'gpt-4.1-nano-2025-04-14': gpt41nano,
  'gpt-4o': gpt4o,
  'gpt-4o-2024-08-06': gpt4o,
  'gpt-4o-2024-11-20': gpt4o,
  'gpt-4o-mini': gpt4omini,
  'gpt-4o-mini-2024-07-18': gpt4omini,
});

const EXAMPLE = '{"my-model": {"input": 3, "output": 15}} (USD per million tokens)';

const price = z.number().finite().nonnegative();
const OverridesSchema = z.record(
  z.string().trim().min(1),
  z.object({ input: price, output: price }).strict(),
);

/**
 * Reads TELECODER_PRICES: JSON of model → {input, output}. Unset or blank means no overrides.
 * Throws with what is wrong and an example, so a typo never silently prices a model at nothing.
 */
export function parsePriceOverrides(json: string | undefined, variable = 'TELECODER_PRICES'): PriceTable {
  if (json === undefined || json.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (error) {
    throw new Error(`${variable} is not valid JSON (${(error as Error).message}); write it as ${EXAMPLE}`);
  }
  const result = OverridesSchema.safeParse(parsed);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const where = issue.path.length > 0 ? issue.path.map(String).join('.') : 'the value';
      return `${where}: ${issue.message}`;
    });
    throw new Error(`${variable} is invalid (${problems.join('; ')}); write it as ${EXAMPLE}`);
  }
  return Object.freeze({ ...result.data });
}

/** The defaults with the overrides on top. */
export function priceTable(overrides: PriceTable = {}): PriceTable {
  return Object.freeze({ ...DEFAULT_PRICES, ...overrides });
}

export function priceFor(model: string, table: PriceTable = DEFAULT_PRICES): ModelPrice | null {
  return Object.hasOwn(table, model) ? (table[model] ?? null) : null;
}

/** USD for this usage, or null when the model has no price in the table. */
export function costUsd(model: string, usage: CompletionUsage, table: PriceTable = DEFAULT_PRICES): number | null {
  const modelPrice = priceFor(model, table);
  if (!modelPrice) return null;
  return (usage.inputTokens * modelPrice.input + usage.outputTokens * modelPrice.output) / 1_000_000;
}
