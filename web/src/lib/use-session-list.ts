import { useEffect, useReducer, useState } from 'react';
import { followSse } from '../api/sse-reader.js';
import type { SessionJson } from '../api/types.js';
import { applyListEvent, type ListStreamEvent } from './session-list.js';

/** The live session list from `GET /api/sessions/stream`: a snapshot, then each change. No polling. */
export function useSessionList(headers: Record<string, string>, onUnauthorized: () => void): { sessions: SessionJson[]; connected: boolean; loaded: boolean } {
  const [sessions, dispatch] = useReducer(applyListEvent, []);
  const [connected, setConnected] = useState(false);
  const [loaded, setLoaded] = useState(false);
  const authorization = headers.Authorization;
  useEffect(() => {
    const controller = new AbortController();
    void followSse({
      url: '/api/sessions/stream',
      headers: authorization ? { Authorization: authorization } : {},
      signal: controller.signal,
      onUnauthorized,
      onConnectionChange: setConnected,
      onMessage: (message) => {
        let event: ListStreamEvent | undefined;
        if (message.event === 'snapshot') event = { type: 'snapshot', sessions: (JSON.parse(message.data) as { sessions: SessionJson[] }).sessions };
        else if (message.event === 'session') event = { type: 'session', session: JSON.parse(message.data) as SessionJson };
        if (!event) return;
        dispatch(event);
        setLoaded(true);
      },
    });
    return () => controller.abort();
  }, [authorization, onUnauthorized]);
  return { sessions, connected, loaded };
}
