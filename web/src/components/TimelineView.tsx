import { duration } from '../lib/format.js';
import type { Timeline } from '../lib/timeline.js';

/** The pipeline as it ran: setup, each step with its stages and durations, then the checks. */
export function TimelineView({ timeline }: { timeline: Timeline }) {
  const { setup, steps, checks } = timeline;
  if (!setup && steps.length === 0 && checks.length === 0) return null;
  return (
    <section className="timeline" data-testid="timeline">
      <h2>Pipeline</h2>
      <ol>
        {setup && (
          <li className={`step step-${setup.status}`} data-testid="timeline-setup">
            <strong>Setup</strong> — {setup.status}
            {setup.durationMs !== undefined && ` in ${duration(setup.durationMs)}`}
            {setup.commands.length > 0 && (
              <ul>
                {setup.commands.map((command, index) => (
                  <li key={index} className={command.passed === false ? 'failed' : ''}>
                    <code>{command.command}</code>
                    {command.passed !== undefined && (command.passed ? ' ✓' : ' ✗')}
                    {command.durationMs !== undefined && ` ${duration(command.durationMs)}`}
                  </li>
                ))}
              </ul>
            )}
          </li>
        )}
        {steps.map((step) => (
          <li key={step.number} className={`step step-${step.status}`} data-testid="timeline-step">
            <strong>
              Step {step.number}/{step.total}: {step.title}
            </strong>{' '}
            — {step.status}
            {step.durationMs !== undefined && ` in ${duration(step.durationMs)}`}
            {step.tools > 0 && <span className="muted"> · {step.tools} tool calls</span>}
            {step.stages.length > 0 && (
              <ul className="stages">
                {step.stages.map((stage, index) => (
                  <li key={index}>
                    {stage.name} {stage.durationMs !== undefined ? duration(stage.durationMs) : '…'}
                  </li>
                ))}
              </ul>
            )}
          </li>
        ))}
      </ol>
      {checks.length > 0 && (
        <>
          <h3>Checks</h3>
          <ul className="checks" data-testid="checks">
            {checks.map((check) => (
              <li key={check.name} className={`check-${check.result}`}>
                {check.result === 'passed' ? '✓' : check.result === 'failed' ? '✗' : '–'} {check.name} {check.result}
                {check.before && <span className="muted"> (before this change: {check.before})</span>}
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}
