import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { listenOnLoopback } from '../listen-on-loopback.js';

/** An envelope as Slack sends it over Socket Mode. */
export interface Envelope {
  type: 'events_api' | 'interactive';
  payload: unknown;
  retry_attempt?: number;
  retry_reason?: string;
}

export interface Ack {
  envelopeId: string;
  /** Time from sending the envelope to its acknowledgement. */
  ms: number;
  payload: unknown;
}

export interface FakeSocketMode {
  /** What apps.connections.open hands out: ws://127.0.0.1:PORT/link?ticket=… */
  url(): string;
  /** Connections ever opened. */
  readonly connections: number;
  /** Resolves once a client is connected (and greeted). */
  waitForConnection(timeoutMs?: number): Promise<void>;
  /** Sends an envelope to the connected client; resolves with its acknowledgement (rejects after 3 s, Slack's limit). */
  send(envelope: Envelope): Promise<Ack>;
  /** Closes the client's connection, as Slack does when it recycles a server. */
  drop(): void;
  close(): Promise<void>;
}

/**
 * Slack's Socket Mode server on 127.0.0.1, as @slack/socket-mode expects it: a WebSocket that
 * greets each connection with `hello`, sends envelopes with an envelope_id (and retry_attempt /
 * retry_reason for redeliveries), and takes `{envelope_id, payload}` back as the acknowledgement.
 * The client's pings are answered by `ws` itself.
 */
export async function startFakeSocketMode(): Promise<FakeSocketMode> {
  const server = createServer((_req, res) => res.writeHead(426).end());
  const wss = new WebSocketServer({ server });
  const base = await listenOnLoopback(server);
  let current: WebSocket | undefined;
  let connections = 0;
  const pending = new Map<string, { sentAt: number; resolve: (ack: Ack) => void }>();
  const connected: Array<() => void> = [];

  wss.on('connection', (socket) => {
    connections += 1;
    current = socket;
    socket.on('message', (data) => {
      const message = JSON.parse(String(data)) as { envelope_id?: string; payload?: unknown };
      const waiting = message.envelope_id ? pending.get(message.envelope_id) : undefined;
      if (!waiting) return;
      pending.delete(message.envelope_id!);
      waiting.resolve({ envelopeId: message.envelope_id!, ms: Date.now() - waiting.sentAt, payload: message.payload });
    });
    socket.on('close', () => {
      if (current === socket) current = undefined;
    });
    socket.send(JSON.stringify({ type: 'hello', num_connections: 1, debug_info: { host: 'fake-socket-mode' }, connection_info: { app_id: 'A0TELECODER' } }));
    for (const wake of connected.splice(0)) wake();
  });

  return {
    url: () => `${base.replace('http:', 'ws:')}/link?ticket=${randomUUID()}`,
    get connections() {
      return connections;
    },
    async waitForConnection(timeoutMs = 15_000) {
      if (current) return;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no Socket Mode connection within ${timeoutMs} ms`)), timeoutMs);
        connected.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      // The client counts as connected once it has read the hello.
      await new Promise((resolve) => setTimeout(resolve, 50));
    },
    send(envelope) {
      const socket = current;
      if (!socket) return Promise.reject(new Error('no Socket Mode client is connected'));
      const envelopeId = randomUUID();
      return new Promise<Ack>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(envelopeId);
          reject(new Error(`envelope ${envelopeId} (${envelope.type}) was not acknowledged within 3 s`));
        }, 3000);
        pending.set(envelopeId, {
          sentAt: Date.now(),
          resolve: (ack) => {
            clearTimeout(timer);
            resolve(ack);
          },
        });
        socket.send(
          JSON.stringify({
            envelope_id: envelopeId,
            type: envelope.type,
            payload: envelope.payload,
            accepts_response_payload: false,
            ...(envelope.type === 'events_api' ? { retry_attempt: envelope.retry_attempt ?? 0, retry_reason: envelope.retry_reason ?? '' } : {}),
          }),
        );
      });
    },
    drop() {
      current?.terminate();
    },
    async close() {
      for (const socket of wss.clients) socket.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
