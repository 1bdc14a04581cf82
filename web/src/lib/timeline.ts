import type { FailingCheckJson, SessionEventJson } from '../api/types.js';

/**
 * The pipeline's shape, rebuilt from a session's events: setup, then each step with the stages it
 * went through (`progress` events), and the checks that ran. Durations come from event times.
 */

export interface TimelineStage {
  name: string;
  startedAt: string;
  /** Unset while the stage runs. */
  durationMs?: number;
}

export interface TimelineStep {
  number: number;
  total: number;
  title: string;
  status: 'running' | 'done' | 'failed';
  startedAt: string;
  durationMs?: number;
  stages: TimelineStage[];
  tools: number;
}

export interface SetupCommand {
  command: string;
  passed?: boolean;
  durationMs?: number;
}

export interface TimelineSetup {
  status: 'running' | 'passed' | 'failed' | 'skipped';
  durationMs?: number;
  commands: SetupCommand[];
}

export interface TimelineCheck {
  name: string;
  result: 'passed' | 'failed' | 'skipped';
  /** How the check did on the base tree, when the result says (failing checks only). */
  before?: FailingCheckJson['before'];
}

export interface Timeline {
  statuses: Array<{ status: string; at: string }>;
  setup?: TimelineSetup;
  steps: TimelineStep[];
  /** The last result of each check, in the order they first ran. */
  checks: TimelineCheck[];
  tools: number;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const between = (from: string, to: string) => Math.max(0, Date.parse(to) - Date.parse(from));

/** "Step 2/3: title" (the `step` event) → its parts. */
const STEP_TEXT = /^Step (\d+)\/(\d+): (.*)$/s;
/** The verify stage's per-check output lines: "✅ test", "❌ lint (note)", "⏭ build". */
const CHECK_LINE = /^(✅|❌|⏭) (.+?)(?: \((.*)\))?$/u;

export function buildTimeline(events: readonly SessionEventJson[]): Timeline {
  const timeline: Timeline = { statuses: [], steps: [], checks: [], tools: 0 };
  const checks = new Map<string, TimelineCheck>();
  let step: TimelineStep | undefined;

  const closeStage = (at: string) => {
    const stage = step?.stages.at(-1);
    if (stage && stage.durationMs === undefined) stage.durationMs = between(stage.startedAt, at);
  };
  const openStep = (number: number, total: number, title: string, at: string): TimelineStep => {
    const found = timeline.steps.find((candidate) => candidate.number === number);
    if (found) return found;
    const created: TimelineStep = { number, total, title, status: 'running', startedAt: at, stages: [], tools: 0 };
    timeline.steps.push(created);
    return created;
  };

  for (const event of events) {
    const { data, created_at: at } = event;
    if (event.type === 'status' && typeof data === 'string') timeline.statuses.push({ status: data, at });
    else if (event.type === 'step' && typeof data === 'string') {
      const match = STEP_TEXT.exec(data);
      if (match) step = openStep(Number(match[1]), Number(match[2]), match[3] ?? '', at);
    } else if (event.type === 'progress' && isObject(data)) {
      step = openStep(Number(data.step), Number(data.total), String(data.title ?? ''), at);
      const status = String(data.status ?? '');
      if (status === 'done' || status === 'failed') {
        closeStage(at);
        step.status = status;
        step.durationMs = between(step.startedAt, at);
      } else if (step.stages.at(-1)?.name !== status) {
        // A repeated status (the same stage reported again) continues the stage it is in.
        closeStage(at);
        step.stages.push({ name: status, startedAt: at });
      }
    } else if (event.type === 'tool') {
      timeline.tools++;
      if (step) step.tools++;
    } else if (event.type === 'setup' && isObject(data)) {
      const status = String(data.status) as TimelineSetup['status'];
      const commands = Array.isArray(data.commands) ? data.commands.filter(isObject) : [];
      timeline.setup = {
        status,
        ...(typeof data.durationMs === 'number' ? { durationMs: data.durationMs } : {}),
        commands: commands.map((command) => ({
          command: String(command.command),
          ...(typeof command.passed === 'boolean' ? { passed: command.passed } : {}),
          ...(typeof command.durationMs === 'number' ? { durationMs: command.durationMs } : {}),
        })),
      };
    } else if (event.type === 'output' && typeof data === 'string') {
      const match = CHECK_LINE.exec(data.trim());
      if (match) {
        const name = match[2] ?? '';
        checks.set(name, { name, result: match[1] === '✅' ? 'passed' : match[1] === '❌' ? 'failed' : 'skipped' });
      }
    } else if ((event.type === 'result' || event.type === 'done') && isObject(data)) {
      const result = event.type === 'done' && isObject(data.result) ? data.result : data;
      const failing = Array.isArray(result.failing_checks) ? result.failing_checks.filter(isObject) : [];
      for (const check of failing) {
        const name = String(check.name);
        checks.set(name, { name, result: 'failed', before: check.before as FailingCheckJson['before'] });
      }
    }
  }
  timeline.checks = [...checks.values()];
  return timeline;
}
