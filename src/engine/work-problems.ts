import type { PipelineResult } from '../pipeline/pipeline.js';
import type { SessionResult } from '../model/session.js';

export type FailingCheck = NonNullable<SessionResult['failingChecks']>[number];

/** What is wrong with the work a task produced, for the pull request, the result and the reply. */
export interface WorkProblems {
  /** Checks that still failed at the end of a failed step. */
  failingChecks: FailingCheck[];
  /** Steps that did not succeed, with the reason. */
  failedSteps: Array<{ number: number; title: string; reason: string }>;
  /** Setup commands that failed. */
  failedSetup: string[];
  /** How many steps the task had. */
  stepCount: number;
}

export function problemsOf(result: PipelineResult): WorkProblems {
  const failedSteps: WorkProblems['failedSteps'] = [];
  // A check's last run decides: one a failed step broke and a later step fixed is not failing.
  const lastRun = new Map<string, { passed: boolean; failing?: FailingCheck }>();
  result.steps.forEach((step, index) => {
    if (step.status === '❌') failedSteps.push({ number: index + 1, title: step.title, reason: step.notes.at(-1) ?? 'it did not succeed' });
    for (const check of step.checks ?? []) {
      if (check.missingTool || check.skipped) continue;
      lastRun.set(check.command, {
        passed: check.passed,
        ...(check.passed ? {} : { failing: { name: check.name, command: check.command, before: check.before ?? 'unknown' } }),
      });
    }
  });
  const failingChecks = [...lastRun.values()].flatMap((run) => (run.failing ? [run.failing] : []));
  const failedSetup = (result.setup?.results ?? []).filter((setup) => !setup.passed).map((setup) => setup.command);
  return { failingChecks, failedSteps, failedSetup, stepCount: result.steps.length };
}

/** True when the work must be flagged: delivered as a draft that says what is wrong. */
export function needsFlag(problems: WorkProblems): boolean {
  return problems.failedSteps.length > 0;
}

const BEFORE_TEXT: Record<FailingCheck['before'], string> = {
  failing: 'already failing before this change',
  passing: 'passing before this change: broken by it',
  unknown: 'not known whether it failed before this change',
};

/** "`npm test` fails (broken by this change); …" — one sentence for results, comments and the CLI. */
export function problemsSentence(problems: WorkProblems): string | undefined {
  const parts: string[] = [];
  for (const check of problems.failingChecks) parts.push(`\`${check.command}\` fails (${BEFORE_TEXT[check.before]})`);
  // With one step its failing checks say it all; with several, which step failed matters too.
  const explained = problems.failingChecks.length > 0 && problems.stepCount === 1;
  if (!explained) {
    for (const step of problems.failedSteps) parts.push(`step ${step.number} (${step.title.replace(/\n/g, ' ')}) failed: ${step.reason}`);
  }
  if (problems.failedSetup.length > 0) parts.push(`setup failed (${problems.failedSetup.map((command) => `\`${command}\``).join(', ')})`);
  return parts.length > 0 ? parts.join('; ') : undefined;
}

/** The markdown section at the top of a flagged pull request. */
export function problemsSection(problems: WorkProblems): string[] {
  if (!needsFlag(problems)) return [];
  const lines = ['## ⚠️ Draft: this change does not pass its checks', ''];
  for (const check of problems.failingChecks) lines.push(`- ❌ \`${check.command}\` — ${BEFORE_TEXT[check.before]}`);
  for (const step of problems.failedSteps) lines.push(`- ❌ Step ${step.number}: ${step.title.replace(/\n/g, ' ')} — ${step.reason}`);
  lines.push('', 'The change is kept so you can see and finish it; the output of each failing check is under **Checks** below.', '');
  return lines;
}
