import { useState, type FormEvent } from 'react';

/** Asks for TELECODER_API_TOKEN; the gate keeps it in sessionStorage once the server accepts it. */
export function TokenForm({ rejected, onSubmit }: { rejected: boolean; onSubmit: (token: string) => void }) {
  const [token, setToken] = useState('');
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (token.trim()) onSubmit(token.trim());
  };
  return (
    <form className="token-form centered" onSubmit={submit} data-testid="token-form">
      <h1>TeleCoder</h1>
      <label>
        API token
        <input type="password" autoComplete="current-password" value={token} onChange={(event) => setToken(event.target.value)} data-testid="token-input" autoFocus />
      </label>
      {rejected && (
        <p className="error" role="alert">
          The server did not accept that token.
        </p>
      )}
      <button type="submit">Open the dashboard</button>
      <p className="muted">The token is TELECODER_API_TOKEN on the server. It is kept for this tab only.</p>
    </form>
  );
}
