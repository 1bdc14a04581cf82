import type { SessionStatus } from '../api/types.js';

/** The colour comes from the class (styles.css): no inline styles under the server's CSP. */
export function StatusBadge({ status }: { status: SessionStatus }) {
  return (
    <span className={`badge status-${status}`} data-testid="status">
      {status}
    </span>
  );
}
