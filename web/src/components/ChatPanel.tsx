import { useEffect, useState, type FormEvent } from 'react';
import type { ApiClient } from '../api/api-client.js';
import type { MessageJson, SessionEventJson, SessionJson } from '../api/types.js';
import { useAction } from '../lib/use-action.js';

/** A chat's conversation, a message box (open while the chat is idle) and "Create PR". */
export function ChatPanel({ api, session, events }: { api: ApiClient; session: SessionJson; events: SessionEventJson[] }) {
  const [messages, setMessages] = useState<MessageJson[]>([]);
  const [draft, setDraft] = useState('');
  const [note, setNote] = useState('');
  const { busy, run } = useAction(setNote);
  // An answer arrives as an `output` event and a status change: both are reasons to read the messages again.
  const answers = events.filter((event) => event.type === 'output' || event.type === 'status').length;
  useEffect(() => {
    api.messages(session.id).then(setMessages, (error: Error) => setNote(error.message));
  }, [api, session.id, session.status, answers]);

  const send = (event: FormEvent) => {
    event.preventDefault();
    if (!draft.trim()) return;
    void run(async () => {
      const sent = await api.sendMessage(session.id, draft);
      setMessages((held) => [...held, sent]);
      setDraft('');
    });
  };
  const createPr = () =>
    void run(async () => {
      const pr = await api.createPr(session.id);
      setNote(pr.url ? `Pull request: ${pr.url}${pr.warning ? ` — ${pr.warning}` : ''}` : `Pushed ${pr.branch}`);
    });

  const open = session.status === 'idle';
  return (
    <section className="chat" data-testid="chat">
      <h2>Chat</h2>
      <ol className="messages">
        {messages.map((message) => (
          <li key={message.id} className={`message ${message.role}`} data-testid="chat-message" data-role={message.role}>
            <pre>{message.content}</pre>
          </li>
        ))}
      </ol>
      <form onSubmit={send} aria-label="Send a message">
        <label>
          Message
          <textarea value={draft} onChange={(event) => setDraft(event.target.value)} rows={3} maxLength={10_000} disabled={!open || busy} data-testid="chat-input" />
        </label>
        <button type="submit" disabled={!open || busy || !draft.trim()} data-testid="chat-send">
          Send
        </button>{' '}
        <button type="button" onClick={createPr} disabled={!open || busy} data-testid="create-pr">
          Create PR
        </button>
        {!open && <span className="muted"> {session.status === 'running' || session.status === 'pending' ? 'The agent is working…' : 'The chat has ended.'}</span>}
      </form>
      {note && (
        <p className="note" role="status" data-testid="chat-note">
          {note}
        </p>
      )}
    </section>
  );
}
