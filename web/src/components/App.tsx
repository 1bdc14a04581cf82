import { useCallback, useEffect, useState } from 'react';
import { checkGate, TOKEN_KEY, type GateState } from '../api/token-gate.js';
import { Dashboard } from './Dashboard.js';
import { TokenForm } from './TokenForm.js';

/** The token gate: nothing of any session is fetched or shown until `GET /api/info` answers 200. */
export function App() {
  const [gate, setGate] = useState<GateState>({ kind: 'checking' });
  const check = useCallback((candidate?: string) => {
    setGate({ kind: 'checking' });
    void checkGate({ fetch: (...args) => fetch(...args), storage: sessionStorage, ...(candidate !== undefined ? { candidate } : {}) }).then(setGate);
  }, []);
  useEffect(() => check(), [check]);
  // Any 401 later (a token rotated on the server) locks the page again.
  const lock = useCallback(() => {
    sessionStorage.removeItem(TOKEN_KEY);
    setGate({ kind: 'needs-token', rejected: true });
  }, []);

  switch (gate.kind) {
    case 'checking':
      return <p className="muted centered">Connecting…</p>;
    case 'needs-token':
      return <TokenForm rejected={gate.rejected} onSubmit={check} />;
    case 'error':
      return (
        <div className="centered" role="alert">
          <p>{gate.message}</p>
          <button type="button" onClick={() => check()}>
            Try again
          </button>
        </div>
      );
    case 'open':
      return <Dashboard token={gate.token} info={gate.info} onUnauthorized={lock} />;
  }
}
