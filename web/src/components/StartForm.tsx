import { useState, type FormEvent } from 'react';
import type { ApiClient } from '../api/api-client.js';
import type { SessionMode } from '../api/types.js';
import { navigate } from '../lib/router.js';

/** The agents a session may ask for (the server refuses one it cannot run, saying why). */
const AGENTS = ['builtin', 'claude-code', 'opencode', 'codex', 'auto'];

/** Starts a task or a chat; the repository field suggests the server's recent repositories. */
export function StartForm({ api, recentRepos }: { api: ApiClient; recentRepos: string[] }) {
  const [repo, setRepo] = useState(recentRepos[0] ?? '');
  const [prompt, setPrompt] = useState('');
  const [mode, setMode] = useState<SessionMode>('task');
  const [model, setModel] = useState('');
  const [agent, setAgent] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError('');
    try {
      const created = await api.create({
        repo: repo.trim(),
        prompt,
        mode,
        ...(agent ? { agent } : {}),
        ...(model.trim() ? { model: model.trim() } : {}),
      });
      navigate(`/sessions/${encodeURIComponent(created.id)}`);
    } catch (caught) {
      setError(caught instanceof Error ? caught.message : String(caught));
      setBusy(false);
    }
  };

  return (
    <form className="start-form" onSubmit={submit} aria-label="Start a session" data-testid="start-form">
      <h2>Start work</h2>
      <div className="row">
        <label className="grow">
          Repository
          <input list="recent-repos" value={repo} onChange={(event) => setRepo(event.target.value)} placeholder="owner/name or /path/to/repo" required data-testid="start-repo" />
          <datalist id="recent-repos">
            {recentRepos.map((recent) => (
              <option key={recent} value={recent} />
            ))}
          </datalist>
        </label>
        <label>
          Mode
          <select value={mode} onChange={(event) => setMode(event.target.value as SessionMode)} data-testid="start-mode">
            <option value="task">task</option>
            <option value="chat">chat</option>
          </select>
        </label>
        <label>
          Agent
          <select value={agent} onChange={(event) => setAgent(event.target.value)} data-testid="start-agent">
            <option value="">server default</option>
            {AGENTS.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Model (optional)
          <input value={model} onChange={(event) => setModel(event.target.value)} placeholder="server default" data-testid="start-model" />
        </label>
      </div>
      <label>
        Prompt
        <textarea value={prompt} onChange={(event) => setPrompt(event.target.value)} rows={4} maxLength={10_000} required data-testid="start-prompt" />
      </label>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <button type="submit" disabled={busy} data-testid="start-submit">
        {busy ? 'Starting…' : mode === 'chat' ? 'Start chat' : 'Start task'}
      </button>
    </form>
  );
}
