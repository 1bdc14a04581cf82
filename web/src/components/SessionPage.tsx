import { useEffect, useMemo, useState } from 'react';
import type { ApiClient } from '../api/api-client.js';
import type { InfoJson, SessionJson } from '../api/types.js';
import { navigate } from '../lib/router.js';
import { buildTimeline } from '../lib/timeline.js';
import { useSessionEvents } from '../lib/use-session-events.js';
import { ChatPanel } from './ChatPanel.js';
import { DiffPanel } from './DiffPanel.js';
import { EventLog } from './EventLog.js';
import { Link } from './Link.js';
import { StatusBadge } from './StatusBadge.js';
import { TimelineView } from './TimelineView.js';
import { UsagePanel } from './UsagePanel.js';
import { useAction } from '../lib/use-action.js';

const ACTIVE = new Set(['pending', 'running', 'idle']);

interface Props {
  id: string;
  api: ApiClient;
  info: InfoJson;
  /** The session as the live list stream last sent it; fresher than the one fetched on open. */
  listed: SessionJson | undefined;
  onUnauthorized: () => void;
}

export function SessionPage({ id, api, info, listed, onUnauthorized }: Props) {
  const [fetched, setFetched] = useState<SessionJson | null>(null);
  const [problem, setProblem] = useState('');
  const { busy, run: act } = useAction(setProblem);
  const { events, connected } = useSessionEvents(id, api.headers, onUnauthorized);
  const timeline = useMemo(() => buildTimeline(events), [events]);

  useEffect(() => {
    api.session(id).then(setFetched, (error: Error) => setProblem(error.message));
  }, [api, id]);

  const session = listed && (!fetched || listed.updated_at >= fetched.updated_at) ? listed : fetched;
  if (!session) return problem ? <p className="error" role="alert">{problem}</p> : <p className="muted">Loading…</p>;

  const stop = () => act(async () => setFetched(await api.stop(id)));
  const runAgain = () =>
    act(async () => {
      const created = await api.create({
        repo: session.repo,
        prompt: session.prompt,
        mode: session.mode,
        agent: session.agent,
        ...(session.model ? { model: session.model } : {}),
      });
      navigate(`/sessions/${encodeURIComponent(created.id)}`);
    });

  return (
    <article className="session" data-testid="session-page" data-session-id={session.id} data-status={session.status}>
      <p>
        <Link to="/">← Sessions</Link>
      </p>
      <h1>
        <StatusBadge status={session.status} /> {session.repo}
      </h1>
      <dl className="facts">
        <dt>Mode</dt>
        <dd>{session.mode}</dd>
        <dt>From</dt>
        <dd>{session.origin.kind}</dd>
        <dt>Branch</dt>
        <dd>{session.branch}</dd>
        <dt>Agent</dt>
        <dd data-testid="session-agent">{session.agent}</dd>
        <dt>Model</dt>
        <dd>{session.model ?? 'server default'}</dd>
        {session.pr_url && (
          <>
            <dt>Pull request</dt>
            <dd>
              <a href={session.pr_url} data-testid="pr-link">
                #{session.pr_number ?? ''} {session.pr_url}
              </a>
            </dd>
          </>
        )}
      </dl>
      <pre className="prompt-text">{session.prompt}</pre>
      <div className="actions">
        {ACTIVE.has(session.status) && (
          <button type="button" onClick={stop} disabled={busy} data-testid="stop">
            Stop
          </button>
        )}
        {!ACTIVE.has(session.status) && (
          <button type="button" onClick={runAgain} disabled={busy} data-testid="run-again">
            Run again
          </button>
        )}
        <span className={connected ? 'live' : 'muted'}>{connected ? '● events live' : ''}</span>
      </div>
      {problem && (
        <p className="error" role="alert">
          {problem}
        </p>
      )}
      {session.error && (
        <p className="error" data-testid="session-error">
          {session.error}
        </p>
      )}
      {session.result && (
        <section className={session.result.warning ? 'result warning' : 'result'} data-testid="result">
          <h2>Result</h2>
          <p>{session.result.content}</p>
        </section>
      )}
      <UsagePanel usage={session.usage} budget={info.budget} />
      <TimelineView timeline={timeline} />
      {session.mode === 'chat' && <ChatPanel api={api} session={session} events={events} />}
      <DiffPanel api={api} session={session} />
      <EventLog events={events} />
    </article>
  );
}
