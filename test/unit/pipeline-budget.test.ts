import { afterEach, describe, expect, it } from 'vitest';
import { OpenAIClient } from '../../src/llm/openai-client.js';
import { Budget, BudgetExceededError, formatUsd } from '../../src/pipeline/budget.js';
import { parsePriceOverrides, priceTable } from '../../src/pipeline/pricing.js';
import { startScriptedLLM, type ScriptedLLM } from '../helpers/scripted-llm-server.js';

const usage = (inputTokens: number, outputTokens: number) => ({ inputTokens, outputTokens });

describe('Budget', () => {
  it('stops at the token limit with a readable reason, through exceeded, check and the signal', () => {
    const budget = new Budget({ limits: { maxTokens: 200_000 } });
    budget.record({ stage: 'plan', model: 'claude-sonnet-4-6', usage: usage(150_000, 10_000) });
    expect(budget.exceeded()).toBeNull();
    expect(() => budget.check()).not.toThrow();
    expect(budget.signal.aborted).toBe(false);

    budget.record({ stage: 'code', model: 'claude-sonnet-4-6', usage: usage(40_000, 1_340) });
    const reason = 'the session reached its token budget: 201,340 of 200,000 tokens';
    expect(budget.exceeded()).toBe(reason);
    expect(() => budget.check()).toThrow(BudgetExceededError);
    expect(() => budget.check()).toThrow(reason);
    expect(budget.signal.aborted).toBe(true);
    expect(budget.signal.reason).toBeInstanceOf(BudgetExceededError);
    expect((budget.signal.reason as BudgetExceededError).limit).toBe('tokens');
    expect((budget.signal.reason as BudgetExceededError).message).toBe(reason);
  });

  it('counts turns, one per entry unless told, and stops once the limit is reached', () => {
    const budget = new Budget({ limits: { maxTurns: 5 } });
    budget.record({ stage: 'plan', model: 'gpt-4.1', usage: usage(1, 1) });
    budget.record({ stage: 'code', model: 'gpt-4.1', usage: usage(1, 1), turns: 3 });
    expect(budget.totals().turns).toBe(4);
    expect(budget.exceeded()).toBeNull();
    budget.record({ stage: 'review', model: 'gpt-4.1', usage: usage(1, 1) });
    expect(budget.exceeded()).toBe('the session reached its turn budget: 5 of 5 turns');
    const error = (() => {
      try {
        budget.check();
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(BudgetExceededError);
    expect((error as BudgetExceededError).limit).toBe('turns');
  });

  it('stops at the cost limit, priced from the table with overrides', () => {
    const prices = priceTable(parsePriceOverrides('{"local-model": {"input": 1, "output": 1}}'));
    const budget = new Budget({ limits: { maxCostUsd: 5 }, prices });
    // 1M in at $3 + 100k out at $15 = $4.50
    budget.record({ stage: 'code', model: 'claude-sonnet-4-6', usage: usage(1_000_000, 100_000) });
    expect(budget.totals().costUsd).toBeCloseTo(4.5, 10);
    expect(budget.exceeded()).toBeNull();
    budget.record({ stage: 'review', model: 'local-model', usage: usage(520_000, 0) });
    expect(budget.exceeded()).toBe('the session reached its cost budget: $5.02 of $5.00');
    expect(budget.signal.aborted).toBe(true);
  });

  it('reports cost as unknown when a model has no price, and still enforces the priced part', () => {
    const budget = new Budget({ limits: { maxCostUsd: 0.5 } });
    budget.record({ stage: 'plan', model: 'claude-sonnet-4-6', usage: usage(100_000, 0) });
    budget.record({ stage: 'code', model: 'llama3.1:8b', usage: usage(100_000, 5_000) });
    const totals = budget.totals();
    expect(totals.costUsd).toBeNull();
    expect(totals.pricedCostUsd).toBeCloseTo(0.3, 10);
    expect(totals.unpricedModels).toEqual(['llama3.1:8b']);
    expect(totals.stages.plan?.costUsd).toBeCloseTo(0.3, 10);
    expect(totals.stages.code?.costUsd).toBeNull();
    expect(budget.costLimitWarning()).toBe(
      'the cost budget counts only priced models: llama3.1:8b has no price; add it to TELECODER_PRICES',
    );
    expect(budget.exceeded()).toBeNull();
    budget.record({ stage: 'review', model: 'claude-sonnet-4-6', usage: usage(70_000, 0) });
    expect(budget.exceeded()).toBe('the session reached its cost budget: at least $0.51 of $0.50');
  });

  it('keeps totals overall and per stage', () => {
    const budget = new Budget();
    budget.record({ stage: 'plan', model: 'gpt-4.1', usage: usage(1_000, 200) });
    budget.record({ stage: 'code', model: 'gpt-4.1-mini', usage: usage(10_000, 2_000), turns: 7 });
    budget.record({ stage: 'code', model: 'gpt-4.1-mini', usage: usage(5_000, 500), turns: 2 });
    const totals = budget.totals();
    expect(totals).toMatchObject({ inputTokens: 16_000, outputTokens: 2_700, tokens: 18_700, turns: 10, unpricedModels: [] });
    expect(totals.stages.plan).toMatchObject({ inputTokens: 1_000, outputTokens: 200, tokens: 1_200, turns: 1 });
    expect(totals.stages.plan?.costUsd).toBeCloseTo((1_000 * 2 + 200 * 8) / 1e6, 12);
    expect(totals.stages.code).toMatchObject({ inputTokens: 15_000, outputTokens: 2_500, tokens: 17_500, turns: 9 });
    expect(totals.stages.code?.costUsd).toBeCloseTo((15_000 * 0.4 + 2_500 * 1.6) / 1e6, 12);
    expect(totals.costUsd).toBeCloseTo(totals.stages.plan!.costUsd! + totals.stages.code!.costUsd!, 12);
    // No limits: never exceeded.
    expect(budget.exceeded()).toBeNull();
    expect(budget.signal.aborted).toBe(false);
  });

  it('refuses nonsense limits', () => {
    expect(() => new Budget({ limits: { maxTokens: 0 } })).toThrow(/maxTokens must be a positive number/);
    expect(() => new Budget({ limits: { maxCostUsd: Number.NaN } })).toThrow(/maxCostUsd/);
  });

  it('formats small amounts readably', () => {
    expect(formatUsd(12.345)).toBe('$12.35');
    expect(formatUsd(0.5)).toBe('$0.50');
    expect(formatUsd(0.0042)).toBe('$0.0042');
  });
});

describe('Budget signal cutting an LLM request in flight', () => {
  let server: ScriptedLLM | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('aborts a hanging request when another stage crosses the limit', async () => {
    server = await startScriptedLLM([{ hang: true }]);
    const client = new OpenAIClient({ apiKey: 'k', baseURL: server.openaiBaseUrl, model: 'gpt-4.1', maxRetries: 0, timeoutMs: 10_000 });
    const budget = new Budget({ limits: { maxTokens: 1_000 } });
    const pending = client
      .complete({ system: 's', messages: [{ role: 'user', content: 'go' }], tools: [], maxTokens: 10, signal: budget.signal })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    setTimeout(() => budget.record({ stage: 'review', model: 'gpt-4.1', usage: usage(900, 200) }), 50);
    const started = Date.now();
    const error = await pending;
    expect((error as Error).name).toBe('AbortError');
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(budget.signal.reason).toBeInstanceOf(BudgetExceededError);
  });
});
