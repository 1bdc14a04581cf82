import { useEffect, useState } from 'react';

/**
 * Client-side routing with the History API: two pages do not justify a router library. The server
 * answers index.html at `/sessions/<id>`, so a deep link lands here and is routed the same way.
 */
export function navigate(path: string): void {
  if (path === location.pathname) return;
  history.pushState(null, '', path);
  dispatchEvent(new PopStateEvent('popstate'));
}

export function usePath(): string {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const update = () => setPath(location.pathname);
    addEventListener('popstate', update);
    return () => removeEventListener('popstate', update);
  }, []);
  return path;
}

export type Route = { page: 'list' } | { page: 'session'; id: string } | { page: 'not-found' };

export function routeOf(path: string): Route {
  if (path === '/' || path === '') return { page: 'list' };
  const match = /^\/sessions\/([^/]+)\/?$/.exec(path);
  return match?.[1] ? { page: 'session', id: decodeURIComponent(match[1]) } : { page: 'not-found' };
}
