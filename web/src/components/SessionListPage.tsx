import { useEffect, useState } from 'react';
import type { ApiClient } from '../api/api-client.js';
import type { InfoJson, SessionJson } from '../api/types.js';
import { age, cost } from '../lib/format.js';
import { filterSessions, repositoriesOf, type ListFilter } from '../lib/session-list.js';
import { Link } from './Link.js';
import { StartForm } from './StartForm.js';
import { StatusBadge } from './StatusBadge.js';

const STATUSES = ['pending', 'running', 'idle', 'complete', 'error', 'stopped'];

/** Ticks so the "age" column moves on without any request. */
function useNow(intervalMs: number): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}

export function SessionListPage({ api, info, sessions, loaded }: { api: ApiClient; info: InfoJson; sessions: SessionJson[]; loaded: boolean }) {
  const [filter, setFilter] = useState<ListFilter>({ status: '', repo: '' });
  const now = useNow(10_000);
  const shown = filterSessions(sessions, filter);
  return (
    <>
      <StartForm api={api} recentRepos={info.recent_repos} />
      <section aria-label="Sessions">
        <div className="filters">
          <h2>Sessions</h2>
          <label>
            Status
            <select value={filter.status} onChange={(event) => setFilter({ ...filter, status: event.target.value })} data-testid="filter-status">
              <option value="">any</option>
              {STATUSES.map((status) => (
                <option key={status}>{status}</option>
              ))}
            </select>
          </label>
          <label>
            Repository
            <select value={filter.repo} onChange={(event) => setFilter({ ...filter, repo: event.target.value })} data-testid="filter-repo">
              <option value="">any</option>
              {repositoriesOf(sessions).map((repo) => (
                <option key={repo}>{repo}</option>
              ))}
            </select>
          </label>
        </div>
        {!loaded ? (
          <p className="muted">Loading…</p>
        ) : shown.length === 0 ? (
          <p className="muted" data-testid="no-sessions">
            No sessions{sessions.length > 0 ? ' match the filter' : ' yet'}.
          </p>
        ) : (
          <table className="sessions" data-testid="session-list">
            <thead>
              <tr>
                <th>Status</th>
                <th>Repository</th>
                <th>From</th>
                <th>Prompt</th>
                <th>Age</th>
                <th>Cost</th>
                <th>PR</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((session) => (
                <tr key={session.id} data-testid="session-row" data-session-id={session.id} data-status={session.status}>
                  <td>
                    <StatusBadge status={session.status} />
                  </td>
                  <td className="repo">{session.repo}</td>
                  <td>{session.origin.kind}</td>
                  <td className="prompt">
                    <Link to={`/sessions/${encodeURIComponent(session.id)}`}>{session.prompt.split('\n')[0] || session.id}</Link>
                  </td>
                  <td title={session.created_at}>{age(session.created_at, now)}</td>
                  <td>{cost(session.usage.cost_usd)}</td>
                  <td>{session.pr_url ? <a href={session.pr_url}>#{session.pr_number ?? 'PR'}</a> : ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}
