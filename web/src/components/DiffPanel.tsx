import { useEffect, useState } from 'react';
import type { ApiClient } from '../api/api-client.js';
import type { SessionJson } from '../api/types.js';
import { DiffView } from './DiffView.js';

type Loaded = { kind: 'loading' } | { kind: 'diff'; text: string } | { kind: 'none'; reason: string } | { kind: 'failed'; reason: string };

const FINAL = new Set(['complete', 'error', 'stopped']);

/**
 * Whether the server can have a diff for the session now: a chat between messages (read live in
 * its sandbox) or one that ended, a task once it delivered a change. Asking at other times only
 * earns a 409 (which the browser logs as an error), so the panel says why instead.
 */
export function diffExpected(session: SessionJson): boolean {
  if (session.mode === 'chat') return session.status === 'idle' || FINAL.has(session.status);
  return FINAL.has(session.status) && (session.result?.type === 'pr' || session.result?.type === 'branch');
}

/** Fetches `GET /diff` again whenever the session's state moves (a chat's answer changes its diff). */
export function DiffPanel({ api, session }: { api: ApiClient; session: SessionJson }) {
  const [loaded, setLoaded] = useState<Loaded>({ kind: 'loading' });
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    let current = true;
    if (!diffExpected(session)) {
      setLoaded({
        kind: 'none',
        reason: FINAL.has(session.status) ? 'This session delivered no change.' : 'The change shows here once the session has made it.',
      });
      return;
    }
    api.diff(session.id).then(
      (answer) => current && setLoaded('diff' in answer ? { kind: 'diff', text: answer.diff } : { kind: 'none', reason: answer.none }),
      (error: Error) => current && setLoaded({ kind: 'failed', reason: error.message }),
    );
    return () => {
      current = false;
    };
  }, [api, session.id, session.status, session.result?.type, generation]);

  return (
    <section className="diff-panel" data-testid="diff-panel">
      <h2>
        Change{' '}
        <button type="button" className="small" onClick={() => setGeneration(generation + 1)}>
          Reload
        </button>
      </h2>
      {loaded.kind === 'loading' && <p className="muted">Loading…</p>}
      {loaded.kind === 'none' && <p className="muted" data-testid="no-diff">{loaded.reason}</p>}
      {loaded.kind === 'failed' && <p className="error">{loaded.reason}</p>}
      {loaded.kind === 'diff' && <DiffView text={loaded.text} />}
    </section>
  );
}
