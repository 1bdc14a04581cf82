import { describe, expect, it } from 'vitest';
import type { SessionEventJson } from '../../web/src/api/types.js';
import { buildTimeline } from '../../web/src/lib/timeline.js';

let nextId = 1;
function event(second: number, type: SessionEventJson['type'], data: unknown): SessionEventJson {
  return { id: nextId++, session_id: 's1', type, data, created_at: new Date(Date.UTC(2026, 10, 27, 10, 0, second)).toISOString() };
}

describe('buildTimeline', () => {
  it('rebuilds setup, steps with their stages and durations, and the checks', () => {
    const timeline = buildTimeline([
      event(0, 'status', 'running'),
      event(1, 'setup', { status: 'running', commands: [{ command: 'npm ci' }] }),
      event(5, 'setup', { status: 'passed', durationMs: 4000, commands: [{ command: 'npm ci', exitCode: 0, durationMs: 3900, passed: true }] }),
      event(6, 'step', 'Step 1/2: add the limiter'),
      event(6, 'progress', { step: 1, total: 2, title: 'add the limiter', status: 'coding' }),
      event(7, 'tool', { name: 'write_file', arguments: 'src/a.ts' }),
      event(9, 'progress', { step: 1, total: 2, title: 'add the limiter', status: 'verifying' }),
      event(10, 'output', '✅ test'),
      event(10, 'output', '❌ lint (2 errors)'),
      event(12, 'progress', { step: 1, total: 2, title: 'add the limiter', status: 'done' }),
      event(13, 'step', 'Step 2/2: document it'),
      event(13, 'progress', { step: 2, total: 2, title: 'document it', status: 'coding' }),
    ]);
    expect(timeline.statuses).toEqual([{ status: 'running', at: '2026-11-27T10:00:00.000Z' }]);
    expect(timeline.setup).toEqual({ status: 'passed', durationMs: 4000, commands: [{ command: 'npm ci', passed: true, durationMs: 3900 }] });
    expect(timeline.steps).toMatchObject([
      {
        number: 1,
        total: 2,
        title: 'add the limiter',
        status: 'done',
        durationMs: 6000,
        tools: 1,
        stages: [
          { name: 'coding', durationMs: 3000 },
          { name: 'verifying', durationMs: 3000 },
        ],
      },
      { number: 2, title: 'document it', status: 'running', stages: [{ name: 'coding' }] },
    ]);
    expect(timeline.steps[1]!.stages[0]!.durationMs).toBeUndefined();
    expect(timeline.checks).toEqual([
      { name: 'test', result: 'passed' },
      { name: 'lint', result: 'failed' },
    ]);
  });

  it('keeps one stage when the same stage is reported twice', () => {
    const timeline = buildTimeline([
      event(0, 'progress', { step: 1, total: 1, title: 't', status: 'coding' }),
      event(2, 'progress', { step: 1, total: 1, title: 't', status: 'coding' }),
      event(5, 'progress', { step: 1, total: 1, title: 't', status: 'failed' }),
    ]);
    expect(timeline.steps[0]).toMatchObject({ status: 'failed', durationMs: 5000, stages: [{ name: 'coding', durationMs: 5000 }] });
  });

  it('marks the checks the delivered result says still fail, with how they did before', () => {
    const timeline = buildTimeline([
      event(0, 'output', '✅ test'),
      event(1, 'done', { result: { type: 'pr', content: 'draft', failing_checks: [{ name: 'test', command: 'npm test', before: 'passing' }] } }),
    ]);
    expect(timeline.checks).toEqual([{ name: 'test', result: 'failed', before: 'passing' }]);
  });
});
