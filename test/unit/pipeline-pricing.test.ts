import { describe, expect, it } from 'vitest';
import { DEFAULT_MODELS } from '../../src/llm/create-llm-client.js';
import { costUsd, DEFAULT_PRICES, parsePriceOverrides, priceFor, priceTable } from '../../src/pipeline/pricing.js';

describe('pricing', () => {
  it('prices the default models, including the dated names the APIs answer with', () => {
    expect(priceFor(DEFAULT_MODELS.anthropic)).toEqual({ input: 3, output: 15 });
    expect(priceFor(DEFAULT_MODELS.openai)).toEqual({ input: 2, output: 8 });
    expect(priceFor('gpt-4.1-2025-04-14')).toEqual({ input: 2, output: 8 });
    for (const model of ['claude-haiku-4-5', 'claude-opus-4-1', 'gpt-4.1-mini', 'gpt-4o', 'gpt-4o-mini']) {
      expect(priceFor(model), model).not.toBeNull();
    }
    // 1M input at $3 + 200k output at $15
    expect(costUsd('claude-sonnet-4-6', { inputTokens: 1_000_000, outputTokens: 200_000 })).toBeCloseTo(6, 10);
    expect(costUsd('gpt-4.1-mini', { inputTokens: 500_000, outputTokens: 100_000 })).toBeCloseTo(0.36, 10);
  });

  it('gives null, never a guess, for a model it does not know', () => {
    expect(costUsd('llama3.1:8b', { inputTokens: 1000, outputTokens: 1000 })).toBeNull();
    // Not even a snapshot of a known model whose date is not in the table, nor an inherited key.
    expect(costUsd('gpt-4o-2024-05-13', { inputTokens: 1, outputTokens: 1 })).toBeNull();
    expect(priceFor('toString')).toBeNull();
    expect(priceFor('constructor')).toBeNull();
  });

  it('parses TELECODER_PRICES and lets it override and extend the defaults', () => {
    expect(parsePriceOverrides(undefined)).toEqual({});
    expect(parsePriceOverrides('  ')).toEqual({});
    const overrides = parsePriceOverrides('{"llama3.1:8b": {"input": 0, "output": 0}, "gpt-4.1": {"input": 1.5, "output": 6}}');
    const table = priceTable(overrides);
    expect(costUsd('llama3.1:8b', { inputTokens: 10_000, outputTokens: 10_000 }, table)).toBe(0);
    expect(costUsd('gpt-4.1', { inputTokens: 1_000_000, outputTokens: 1_000_000 }, table)).toBeCloseTo(7.5, 10);
    expect(costUsd('claude-sonnet-4-6', { inputTokens: 1_000_000, outputTokens: 0 }, table)).toBeCloseTo(3, 10);
    expect(DEFAULT_PRICES['gpt-4.1']).toEqual({ input: 2, output: 8 });
  });

  it('rejects invalid overrides with what is wrong and an example', () => {
    expect(() => parsePriceOverrides('{gpt: 1}')).toThrow(/^TELECODER_PRICES is not valid JSON \(.*\); write it as \{"my-model"/);
    expect(() => parsePriceOverrides('[1]')).toThrow(/TELECODER_PRICES is invalid \(the value: .*expected record/);
    expect(() => parsePriceOverrides('{"m": {"input": 3}}')).toThrow(/m\.output: Invalid input: expected number/);
    expect(() => parsePriceOverrides('{"m": {"input": -1, "output": 2}}')).toThrow(/m\.input: Too small/);
    expect(() => parsePriceOverrides('{"m": {"input": "3", "output": 2}}')).toThrow(/m\.input/);
    expect(() => parsePriceOverrides('{"m": {"input": 3, "output": 2, "cached": 1}}')).toThrow(/Unrecognized key: "cached"/);
  });
});
