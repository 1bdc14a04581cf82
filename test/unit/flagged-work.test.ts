import { describe, expect, it } from 'vitest';
import { reportOutcome } from '../../src/cli/commands/run-command.js';
import { needsFlag, problemsOf, problemsSentence } from '../../src/engine/work-problems.js';
import { renderTrackingComment } from '../../src/github/app/tracking-comment-text.js';
import { sessionToJson } from '../../src/http/session-json.js';
import type { Session } from '../../src/model/session.js';
import type { PipelineResult, StepReport } from '../../src/pipeline/pipeline.js';
import type { CheckResult } from '../../src/pipeline/run-checks.js';

const check = (name: string, command: string, passed: boolean, before?: CheckResult['before']): CheckResult => ({
  name,
  command,
  kind: 'test',
  source: 'test',
  passed,
  exitCode: passed ? 0 : 1,
  timedOut: false,
  durationMs: 10,
  output: '',
  ...(before ? { before } : {}),
});

const step = (title: string, status: StepReport['status'], checks: CheckResult[], note?: string): StepReport => ({
  title,
  status,
  checks,
  attempts: { fixes: 0, revisions: 0 },
  notes: note ? [note] : [],
});

const pipeline = (steps: StepReport[], setupFailed = false): PipelineResult => ({
  summary: 'did it',
  steps,
  usage: { inputTokens: 0, outputTokens: 0, turns: 0, costUsd: null } as unknown as PipelineResult['usage'],
  ...(setupFailed
    ? { setup: { status: 'failed', results: [{ ...check('npm ci', 'npm ci', false) , kind: 'setup' }], durationMs: 5, source: 'detected', env: {} } }
    : {}),
});

function session(result: Session['result'], extra: Partial<Session> = {}): Session {
  return {
    id: 'abc123',
    repo: 'acme/widgets',
    prompt: 'rewrite sum',
    mode: 'task',
    status: 'complete',
    branch: 'telecoder/abc123',
    agent: 'builtin',
    model: 'm',
    prUrl: result?.prUrl ?? null,
    prNumber: result?.prNumber ?? null,
    result,
    error: null,
    origin: { kind: 'github' },
    options: {},
    usage: { inputTokens: 0, outputTokens: 0, turns: 0 },
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    ...extra,
  };
}

describe('flagged work: failing checks are said plainly everywhere', () => {
  it('reports the checks that fail at the end, with how they did on the base', () => {
    const problems = problemsOf(pipeline([step('Rewrite', '❌', [check('lint', 'npm run lint', false, 'failing'), check('test', 'npm test', false, 'passing')], 'checks still failing')]));
    expect(needsFlag(problems)).toBe(true);
    expect(problemsSentence(problems)).toBe(
      '`npm run lint` fails (already failing before this change); `npm test` fails (passing before this change: broken by it)',
    );
  });

  it('a check a later step fixed is not failing; the failed step is still named', () => {
    const problems = problemsOf(
      pipeline([step('One', '❌', [check('test', 'npm test', false, 'passing')], 'checks still failing'), step('Two', '✅', [check('test', 'npm test', true)])]),
    );
    expect(problems.failingChecks).toEqual([]);
    expect(problemsSentence(problems)).toBe('step 1 (One) failed: checks still failing');
  });

  it('a failed setup alone is a note, not a flag', () => {
    const problems = problemsOf(pipeline([step('One', '✅', [check('test', 'npm test', true)])], true));
    expect(needsFlag(problems)).toBe(false);
    expect(problemsSentence(problems)).toBe('setup failed (`npm ci`)');
    expect(problemsSentence(problemsOf(pipeline([step('One', '✅', [])])))).toBeUndefined();
  });

  const flagged = session({
    type: 'pr',
    content: 'Pull request #41 is open as a draft, but `npm test` fails (passing before this change: broken by it).\n\nRewrote sum.',
    prUrl: 'https://github.com/acme/widgets/pull/41',
    prNumber: 41,
    branch: 'telecoder/abc123',
    draft: true,
    failingChecks: [{ name: 'test', command: 'npm test', before: 'passing' }],
    warning: '`npm test` fails (passing before this change: broken by it)',
  });

  it('the tracking comment says the draft is open and what fails, in our words, then quotes the summary', () => {
    const text = renderTrackingComment(flagged);
    expect(text).toMatch(/^⚠️ Draft PR open: #41 \(https:\/\/github\.com\/acme\/widgets\/pull\/41\)/);
    expect(text).toContain('**Needs work:** `npm test` fails (passing before this change: broken by it).');
    expect(text).toContain('> Rewrote sum.');
    expect(text).not.toContain('> Pull request #41');
    const clean = renderTrackingComment(session({ type: 'pr', content: 'Rewrote sum.', prUrl: 'https://github.com/acme/widgets/pull/42', prNumber: 42 }));
    expect(clean).toMatch(/^✅ PR ready: #42/);
    expect(clean).not.toContain('Needs work');
  });

  it('the API and the CLI say it too: draft, failing checks, and a warning on stderr', () => {
    const json = sessionToJson(flagged);
    expect(json.result).toMatchObject({ draft: true, failing_checks: [{ command: 'npm test', before: 'passing' }], warning: expect.stringContaining('npm test') });
    const out: string[] = [];
    const err: string[] = [];
    const context = { out: (line: string) => void out.push(line), err: (line: string) => void err.push(line) };
    const code = reportOutcome(context as unknown as Parameters<typeof reportOutcome>[0], json, false);
    expect(code).toBe(0);
    expect(out).toEqual(['Draft PR open: https://github.com/acme/widgets/pull/41']);
    expect(err).toEqual(['Warning: `npm test` fails (passing before this change: broken by it)']);
  });
});
