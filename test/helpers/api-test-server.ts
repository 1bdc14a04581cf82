import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InMemoryEventBus } from '../../src/events/in-memory-event-bus.js';
import { createApiHandler, type ApiHandlerOptions } from '../../src/http/api-handler.js';
import { SqliteSessionStore } from '../../src/store/sqlite/sqlite-session-store.js';
import { StoreBackedSessionService, type StoreBackedSessionServiceOptions } from './store-backed-session-service.js';

export interface ApiTestServerOptions extends Omit<ApiHandlerOptions, 'service'> {
  onSubmit?: StoreBackedSessionServiceOptions['onSubmit'];
}

export interface ApiTestServer {
  url: string;
  port: number;
  service: StoreBackedSessionService;
  server: Server;
  close(): Promise<void>;
}

/**
 * The API handler on a plain node:http server on 127.0.0.1, over a real SQLite store and the
 * in-memory bus. Requests the handler declines are answered 404 "not handled", as Probot would
 * pass them on.
 */
export async function startApiTestServer(options: ApiTestServerOptions = {}): Promise<ApiTestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'telecoder-api-'));
  const store = SqliteSessionStore.open({ file: join(dir, 'telecoder.db') });
  const service = new StoreBackedSessionService({
    store,
    bus: new InMemoryEventBus(),
    ...(options.onSubmit ? { onSubmit: options.onSubmit } : {}),
  });
  const { onSubmit: _onSubmit, ...handlerOptions } = options;
  const handler = createApiHandler({ bus: service.bus, ...handlerOptions, service });
  const server = createServer((req, res) => {
    void Promise.resolve(handler(req, res)).then((handled) => {
      if (!handled) res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not handled');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    service,
    server,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
