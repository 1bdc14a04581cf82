import { describe, expect, it } from 'vitest';
import type { SessionJson } from '../../web/src/api/types.js';
import { applyListEvent, filterSessions, repositoriesOf } from '../../web/src/lib/session-list.js';
import { sessionJson } from './session-fixture.js';

function session(id: string, created: string, changes: Partial<SessionJson> = {}): SessionJson {
  return sessionJson({ id, created_at: `2026-11-27T10:${created}:00.000Z`, updated_at: `2026-11-27T10:${created}:00.000Z`, ...changes });
}

describe('applyListEvent', () => {
  it('orders a snapshot newest first', () => {
    const list = applyListEvent([], { type: 'snapshot', sessions: [session('a', '01'), session('c', '03'), session('b', '02')] });
    expect(list.map((entry) => entry.id)).toEqual(['c', 'b', 'a']);
  });

  it('replaces a changed session in place and adds a new one at the top', () => {
    let list = applyListEvent([], { type: 'snapshot', sessions: [session('a', '01'), session('b', '02')] });
    list = applyListEvent(list, { type: 'session', session: session('a', '01', { status: 'running' }) });
    list = applyListEvent(list, { type: 'session', session: session('c', '03') });
    expect(list.map((entry) => [entry.id, entry.status])).toEqual([
      ['c', 'pending'],
      ['b', 'pending'],
      ['a', 'running'],
    ]);
  });

  it('lets the snapshot sent after a reconnect replace the whole list', () => {
    const before = applyListEvent([], { type: 'snapshot', sessions: [session('a', '01'), session('b', '02')] });
    const after = applyListEvent(before, { type: 'snapshot', sessions: [session('b', '02', { status: 'complete' })] });
    expect(after.map((entry) => [entry.id, entry.status])).toEqual([['b', 'complete']]);
  });
});

describe('filterSessions', () => {
  const sessions = [session('a', '01', { status: 'running' }), session('b', '02', { repo: 'acme/web', status: 'complete' }), session('c', '03', { repo: 'acme/web' })];

  it('filters by status and repository together', () => {
    expect(filterSessions(sessions, { status: '', repo: 'acme/web' }).map((entry) => entry.id)).toEqual(['b', 'c']);
    expect(filterSessions(sessions, { status: 'complete', repo: 'acme/web' }).map((entry) => entry.id)).toEqual(['b']);
    expect(filterSessions(sessions, { status: 'running', repo: 'acme/web' })).toEqual([]);
    expect(filterSessions(sessions, { status: '', repo: '' })).toHaveLength(3);
  });

  it('offers each repository once', () => {
    expect(repositoriesOf(sessions)).toEqual(['acme/api', 'acme/web']);
  });
});
