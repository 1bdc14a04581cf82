import { useMemo } from 'react';
import { ApiClient } from '../api/api-client.js';
import type { InfoJson } from '../api/types.js';
import { routeOf, usePath } from '../lib/router.js';
import { useSessionList } from '../lib/use-session-list.js';
import { Link } from './Link.js';
import { SessionListPage } from './SessionListPage.js';
import { SessionPage } from './SessionPage.js';

/** Everything behind the token gate. The list stream stays open on every page: it keeps statuses live. */
export function Dashboard({ token, info, onUnauthorized }: { token: string | null; info: InfoJson; onUnauthorized: () => void }) {
  const api = useMemo(() => new ApiClient(token, onUnauthorized), [token, onUnauthorized]);
  const list = useSessionList(api.headers, onUnauthorized);
  const route = routeOf(usePath());
  return (
    <>
      <header className="top">
        <Link to="/" className="brand">
          TeleCoder
        </Link>
        <span className={list.connected ? 'live' : 'muted'} data-testid="connection">
          {list.connected ? '● live' : '○ reconnecting…'}
        </span>
        <span className="muted">v{info.version}</span>
      </header>
      {!info.github_app.configured && (
        <div className="banner" role="status" data-testid="app-banner">
          The GitHub App is not configured: TeleCoder cannot answer issues and pull requests yet.{' '}
          <a href={info.github_app.setup_url ?? '/probot'}>Set it up</a>
        </div>
      )}
      <main>
        {route.page === 'list' && <SessionListPage api={api} info={info} sessions={list.sessions} loaded={list.loaded} />}
        {route.page === 'session' && (
          <SessionPage key={route.id} id={route.id} api={api} info={info} listed={list.sessions.find((session) => session.id === route.id)} onUnauthorized={onUnauthorized} />
        )}
        {route.page === 'not-found' && (
          <p>
            No such page. <Link to="/">Back to the sessions</Link>
          </p>
        )}
      </main>
    </>
  );
}
