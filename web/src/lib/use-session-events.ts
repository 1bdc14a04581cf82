import { useEffect, useState } from 'react';
import { followSse } from '../api/sse-reader.js';
import type { SessionEventJson } from '../api/types.js';

/**
 * A session's events, live. After a dropped connection it reconnects with `Last-Event-ID`, so the
 * server sends only what was missed; after `done` the server ends the stream and so do we.
 */
export function useSessionEvents(id: string, headers: Record<string, string>, onUnauthorized: () => void): { events: SessionEventJson[]; connected: boolean } {
  const [events, setEvents] = useState<SessionEventJson[]>([]);
  const [connected, setConnected] = useState(false);
  const authorization = headers.Authorization;
  useEffect(() => {
    setEvents([]);
    const controller = new AbortController();
    let finished = false;
    void followSse({
      url: `/api/sessions/${encodeURIComponent(id)}/events`,
      headers: authorization ? { Authorization: authorization } : {},
      signal: controller.signal,
      isFinished: () => finished,
      onUnauthorized,
      onConnectionChange: setConnected,
      onMessage: (message) => {
        const event = JSON.parse(message.data) as SessionEventJson;
        if (event.type === 'done') finished = true;
        // Ids only grow; one already held (a resume that overlapped) is not shown twice.
        setEvents((held) => (held.length > 0 && held[held.length - 1]!.id >= event.id ? held : [...held, event]));
      },
    }).finally(() => setConnected(false));
    return () => controller.abort();
  }, [id, authorization, onUnauthorized]);
  return { events, connected };
}
