import type { SessionJson } from '../api/types.js';

/** What `GET /api/sessions/stream` sends: the whole list first, then each session that changed. */
export type ListStreamEvent = { type: 'snapshot'; sessions: SessionJson[] } | { type: 'session'; session: SessionJson };

function newestFirst(a: SessionJson, b: SessionJson): number {
  return b.created_at.localeCompare(a.created_at) || b.id.localeCompare(a.id);
}

/** The list after one stream event; a snapshot (sent again after each reconnect) replaces it. */
export function applyListEvent(sessions: readonly SessionJson[], event: ListStreamEvent): SessionJson[] {
  if (event.type === 'snapshot') return [...event.sessions].sort(newestFirst);
  const others = sessions.filter((session) => session.id !== event.session.id);
  return [...others, event.session].sort(newestFirst);
}

export interface ListFilter {
  /** '' for any. */
  status: string;
  repo: string;
}

export function filterSessions(sessions: readonly SessionJson[], filter: ListFilter): SessionJson[] {
  return sessions.filter((session) => (!filter.status || session.status === filter.status) && (!filter.repo || session.repo === filter.repo));
}

/** The repositories to offer in the filter, in the order they first appear. */
export function repositoriesOf(sessions: readonly SessionJson[]): string[] {
  return [...new Set(sessions.map((session) => session.repo))];
}
