import type { SessionEventJson } from '../api/types.js';

/** One line a person reads per event; usage and result are shown elsewhere on the page. */
function describe(event: SessionEventJson): string | undefined {
  const { data } = event;
  switch (event.type) {
    case 'status':
      return `status: ${String(data)}`;
    case 'step':
    case 'output':
    case 'error':
      return typeof data === 'string' ? data : JSON.stringify(data);
    case 'tool': {
      const tool = (data ?? {}) as { name?: unknown; arguments?: unknown };
      return `→ ${String(tool.name ?? 'tool')} ${typeof tool.arguments === 'string' ? tool.arguments : JSON.stringify(tool.arguments ?? '')}`;
    }
    case 'progress': {
      const progress = (data ?? {}) as { step?: unknown; total?: unknown; title?: unknown; status?: unknown };
      return `Step ${String(progress.step)}/${String(progress.total)}: ${String(progress.title ?? '')} (${String(progress.status)})`;
    }
    case 'setup':
      return `setup: ${String((data as { status?: unknown } | null)?.status)}`;
    default:
      return undefined;
  }
}

export function EventLog({ events }: { events: SessionEventJson[] }) {
  const lines = events.flatMap((event) => {
    const text = describe(event);
    return text === undefined ? [] : [{ event, text }];
  });
  return (
    <section className="events">
      <h2>Events</h2>
      <ol className="event-log" data-testid="event-log">
        {lines.map(({ event, text }) => (
          <li key={event.id} className={`event-${event.type}`} data-testid="event" data-event-type={event.type}>
            <time dateTime={event.created_at}>{new Date(event.created_at).toLocaleTimeString()}</time> <span>{text}</span>
          </li>
        ))}
      </ol>
    </section>
  );
}
