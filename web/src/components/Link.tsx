import type { MouseEvent, ReactNode } from 'react';
import { navigate } from '../lib/router.js';

/** An in-app link: a real href (open in a new tab works) that routes without a page load. */
export function Link({ to, children, className }: { to: string; children: ReactNode; className?: string }) {
  const click = (event: MouseEvent<HTMLAnchorElement>) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(to);
  };
  return (
    <a href={to} onClick={click} className={className}>
      {children}
    </a>
  );
}
