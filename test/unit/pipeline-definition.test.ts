import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { defaultPipeline } from '../../src/pipeline/default-pipeline.js';
import type { PipelineStage } from '../../src/pipeline/stage.js';

const stage = (name: string): PipelineStage => ({ name, run: async () => undefined });
const env = (extra: Record<string, string>) => ({ ANTHROPIC_API_KEY: 'x', ...extra });

describe('pipeline definition', () => {
  it('splits the built-in stages into setup and per-step, in their order', () => {
    const pipeline = defaultPipeline(['review', 'code', 'index', 'plan', 'setup']);
    expect(pipeline.setup.map((s) => s.name)).toEqual(['setup', 'index']);
    expect(pipeline.perStep.map((s) => s.name)).toEqual(['plan', 'code', 'review']);
  });

  it('edits return a new pipeline and leave the old one alone', () => {
    const original = defaultPipeline();
    const edited = original
      .replace('review', stage('my-review'))
      .remove('index')
      .insertAfter('code', stage('lint'))
      .insertBefore('decompose', stage('warm-up'));
    expect(edited.names).toEqual(['setup', 'warm-up', 'decompose', 'plan', 'code', 'lint', 'verify', 'my-review']);
    expect(original.names).toEqual(['setup', 'index', 'decompose', 'plan', 'code', 'verify', 'review']);
  });

  it('refuses unknown stage names and duplicates with a clear message', () => {
    expect(() => defaultPipeline().remove('lint')).toThrow('the pipeline has no stage "lint"; it has setup, index, decompose');
    expect(() => defaultPipeline().insertAfter('code', stage('plan'))).toThrow('two stages named "plan"');
  });

  it('reads TELECODER_STAGES and the budget variables, and rejects bad values', () => {
    const config = loadConfig(env({ TELECODER_STAGES: 'code, review', TELECODER_MAX_TOKENS: '5000', TELECODER_MAX_COST_USD: '0.5', TELECODER_PRICES: '{"m":{"input":1,"output":2}}' }));
    expect(config.pipeline).toMatchObject({ stages: ['code', 'review'], maxTokens: 5000, maxCostUsd: 0.5, maxFixAttempts: 2, prices: { m: { input: 1, output: 2 } } });
    expect(loadConfig(env({})).pipeline.stages).toEqual(['setup', 'index', 'decompose', 'plan', 'code', 'verify', 'review']);
    expect(loadConfig(env({})).pipeline.setupTimeoutMs).toBe(10 * 60_000);
    expect(loadConfig(env({ TELECODER_SETUP_TIMEOUT: '90s' })).pipeline.setupTimeoutMs).toBe(90_000);
    expect(() => loadConfig(env({ TELECODER_STAGES: 'code,reveiw' }))).toThrow(/TELECODER_STAGES has unknown stage\(s\) "reveiw"/);
    expect(() => loadConfig(env({ TELECODER_STAGES: 'plan,review' }))).toThrow(/TELECODER_STAGES must include "code"/);
    expect(() => loadConfig(env({ TELECODER_MAX_TOKENS: '-3' }))).toThrow(/TELECODER_MAX_TOKENS must be a positive whole number/);
    expect(() => loadConfig(env({ TELECODER_PRICES: '{bad' }))).toThrow(/TELECODER_PRICES is not valid JSON/);
  });
});
