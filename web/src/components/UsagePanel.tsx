import type { InfoJson, TokenUsageJson } from '../api/types.js';
import { cost } from '../lib/format.js';

/** Tokens and cost next to the per-session budget from `/api/info`, with a meter when there is one. */
export function UsagePanel({ usage, budget }: { usage: TokenUsageJson; budget: InfoJson['budget'] }) {
  const tokens = usage.input_tokens + usage.output_tokens;
  return (
    <section className="usage" data-testid="usage">
      <h2>Usage</h2>
      <p>
        <span data-testid="usage-tokens">
          {tokens.toLocaleString('en')} tokens{budget.max_tokens ? ` of ${budget.max_tokens.toLocaleString('en')}` : ''}
        </span>{' '}
        ({usage.input_tokens.toLocaleString('en')} in, {usage.output_tokens.toLocaleString('en')} out, {usage.turns} turns)
        {budget.max_tokens ? <meter min={0} max={budget.max_tokens} value={tokens} aria-label="Token budget used" /> : null}
      </p>
      <p>
        <span data-testid="usage-cost">
          {/* A model without a price (TELECODER_PRICES) has no cost to show. */}
          {usage.cost_usd === undefined ? 'cost unknown' : cost(usage.cost_usd)}
          {budget.max_cost_usd ? ` of ${cost(budget.max_cost_usd)}` : ''}
        </span>
        {budget.max_cost_usd && usage.cost_usd !== undefined ? <meter min={0} max={budget.max_cost_usd} value={usage.cost_usd} aria-label="Cost budget used" /> : null}
        {!budget.max_tokens && !budget.max_cost_usd && <span className="muted"> · no budget set</span>}
      </p>
    </section>
  );
}
