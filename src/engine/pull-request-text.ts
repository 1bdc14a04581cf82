import type { Session, TokenUsage } from '../model/session.js';
import { formatUsd } from '../pipeline/budget.js';
import type { PipelineResult, StepReport } from '../pipeline/pipeline.js';
import { formatCheckResults } from '../pipeline/run-checks.js';
import { objectionsText } from '../pipeline/stages/review-stage.js';
import type { HeldBackFile } from '../git/hold-back-changes.js';
import { heldBackSection } from './held-back-text.js';
import { problemsOf, problemsSection } from './work-problems.js';

const TITLE_PROMPT_LENGTH = 72;

/** What the task is called: the door's title (an issue's) or the prompt. */
export function taskTitle(session: Pick<Session, 'prompt' | 'options'>): string {
  return session.options.title ?? session.prompt;
}

/** First line of the task's title, cut to 72 characters: the PR title and the commit subject. */
export function pullRequestTitle(session: Pick<Session, 'prompt' | 'options'>): string {
  const firstLine = taskTitle(session).trim().split('\n')[0]?.trim() ?? '';
  const cut = firstLine.length > TITLE_PROMPT_LENGTH ? `${firstLine.slice(0, TITLE_PROMPT_LENGTH - 1)}…` : firstLine;
  return `telecoder: ${cut}`;
}

export function commitMessage(session: Session): string {
  return `${pullRequestTitle(session)}\n\nTeleCoder session ${session.id}`;
}

export function formatUsage(usage: TokenUsage): string {
  const total = usage.inputTokens + usage.outputTokens;
  const cost = usage.costUsd !== undefined ? `, ${formatUsd(usage.costUsd)}` : '';
  return `${total.toLocaleString('en-US')} tokens (${usage.inputTokens.toLocaleString('en-US')} in, ${usage.outputTokens.toLocaleString('en-US')} out${cost}) over ${usage.turns} LLM turns`;
}

/** Quotes untrusted text so it renders as text and cannot close the quote or ping anyone. */
export function quote(text: string): string {
  return text
    .trim()
    .split('\n')
    .map((line) => `> ${line.replace(/@(?=[A-Za-z0-9])/g, '@\u200b')}`)
    .join('\n');
}

/** A plan as markdown; its text came from a model that read untrusted input, so it is quoted. */
function planMarkdown(step: StepReport): string[] {
  const plan = step.plan;
  if (!plan) return ['_No plan._'];
  return [
    quote(
      [
        `Files: ${plan.files.length > 0 ? plan.files.join(', ') : '(none named)'}`,
        `Approach: ${plan.approach}`,
        `Testing: ${plan.testing}`,
        ...(plan.risks.length > 0 ? [`Risks: ${plan.risks.join('; ')}`] : []),
      ].join('\n'),
    ),
  ];
}

/** Workspace setup: what was installed, and the output of what failed. */
function setupSection(result: PipelineResult): string[] {
  const setup = result.setup;
  if (!setup || setup.status === 'skipped') return [];
  const lines = ['## Setup'];
  if (setup.status === 'failed') {
    lines.push('⚠️ Installing the dependencies failed; the agent was told and worked on. Commands that need them may have failed for that reason.', '');
  }
  lines.push(formatCheckResults(setup.results).replace(/^\*\*Checks:\*\*/, '**Setup commands:**'), '');
  return lines;
}

/** The pipeline's part of the body: steps, plans, checks, review, and why it stopped early. */
export function pipelineSections(result: PipelineResult): string[] {
  const { steps } = result;
  const many = steps.length > 1;
  const lines: string[] = [];
  if (result.stoppedBy) {
    lines.push('## ⚠️ Stopped early', `The session stopped before finishing: ${result.stoppedBy}. This pull request holds the work done until then.`, '');
  }
  if (many || steps.some((step) => step.status === '❌')) {
    lines.push('## Steps');
    steps.forEach((step, index) => {
      const notes = step.notes.length > 0 ? ` — ${step.notes.join('; ')}` : '';
      lines.push(`${index + 1}. ${step.status} ${step.title.replace(/\n/g, ' ')}${notes}`);
    });
    if (steps.some((step) => step.status === '❌')) lines.push('', 'Failed steps are flagged ❌; their changes are in this pull request.');
    lines.push('');
  }
  lines.push(...setupSection(result));
  if (steps.some((step) => step.plan)) {
    lines.push('## Plan');
    steps.forEach((step, index) => {
      if (many) lines.push(`**Step ${index + 1}: ${step.title.replace(/\n/g, ' ')}**`);
      lines.push(...planMarkdown(step), '');
    });
  }
  if (steps.some((step) => step.checks)) {
    lines.push('## Checks');
    steps.forEach((step, index) => {
      if (!step.checks) return;
      if (many) lines.push(`**Step ${index + 1}**`);
      if (step.attempts.fixes > 0) lines.push(`_The last run, after ${step.attempts.fixes} fix attempt(s):_`);
      lines.push(formatCheckResults(step.checks), '');
    });
  }
  const reviewed = steps.filter((step) => step.review || step.notes.some((note) => note.startsWith('review')));
  if (reviewed.length > 0) {
    lines.push('## Review');
    steps.forEach((step, index) => {
      const prefix = many ? `Step ${index + 1}: ` : '';
      if (step.review) {
        const verdict = step.review.verdict === 'approve' ? '✅ approved' : '❌ changes requested';
        lines.push(`${prefix}${verdict} after ${step.attempts.revisions} revision round(s)`, quote(step.review.summary));
        if (step.review.verdict === 'request_changes') {
          lines.push('', 'Objections that remain:', quote(objectionsText(step.review)));
        }
        lines.push('');
      } else if (step.notes.some((note) => note.startsWith('review'))) {
        lines.push(`${prefix}_review unavailable: the reviewer gave no usable answer_`, '');
      }
    });
  }
  return lines;
}

export function pullRequestBody(options: {
  session: Session;
  summary: string;
  changedFiles: string[];
  usage: TokenUsage;
  pipeline?: PipelineResult;
  /** Workflow changes kept out of the pull request; shown first, for a person to add. */
  heldBack?: readonly HeldBackFile[];
}): string {
  const { session, summary, changedFiles, usage } = options;
  const files = changedFiles.slice(0, 50).map((file) => `- \`${file}\``);
  if (changedFiles.length > 50) files.push(`- … and ${changedFiles.length - 50} more`);
  const { issueNumber } = session.options;
  return [
    // GitHub closes the issue when this pull request merges.
    ...(issueNumber ? [`Fixes #${issueNumber}`, ''] : []),
    ...(options.pipeline ? problemsSection(problemsOf(options.pipeline)) : []),
    ...heldBackSection(options.heldBack ?? []),
    '## Task',
    quote(taskTitle(session)),
    '',
    '## Summary',
    summary.trim() || '_The agent gave no summary._',
    '',
    ...(options.pipeline ? pipelineSections(options.pipeline) : []),
    `## Files changed (${changedFiles.length})`,
    ...files,
    '',
    '---',
    `TeleCoder session \`${session.id}\` · model ${session.model ?? 'default'} · ${formatUsage(usage)}` +
      (session.origin.requestedBy ? ` · requested by ${session.origin.requestedBy}` : ''),
  ].join('\n');
}
