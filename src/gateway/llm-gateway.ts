import { createServer } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../logger.js';
import { GrantRegistry } from './gateway-grants.js';
import { createGatewayHandler, type GatewayProviders } from './gateway-handler.js';
import type { LLMGateway } from './llm-gateway-types.js';

export interface LLMGatewayOptions extends GatewayProviders {
  /** TELECODER_ALLOWED_MODELS: requests naming any other model are refused (empty: any model). */
  allowedModels?: string[];
  logger: Logger;
  /** The upstream HTTP client; tests may pass their own. Default: the global fetch. */
  fetch?: typeof fetch;
}

/**
 * The key-holding LLM gateway. Its HTTP server never listens: connections come only through
 * accept(), from a session's sandbox tunnel, and each is tied to that session, so a token is good
 * only on its own session's connections.
 */
export function createLLMGateway(options: LLMGatewayOptions): LLMGateway {
  const grants = new GrantRegistry();
  const sessions = new WeakMap<Duplex, string>();
  const connections = new Set<Duplex>();
  let closed = false;

  const server = createServer(
    createGatewayHandler({
      providers: {
        ...(options.anthropic ? { anthropic: options.anthropic } : {}),
        ...(options.openai ? { openai: options.openai } : {}),
      },
      ...(options.allowedModels ? { allowedModels: options.allowedModels } : {}),
      logger: options.logger,
      fetch: options.fetch ?? fetch,
      grants,
      sessionOf: (socket) => sessions.get(socket),
    }),
  );
  // A broken tunnel connection is the client's problem; it must not take the server down.
  server.on('clientError', (error, socket) => {
    options.logger.debug({ err: error.message }, 'LLM gateway: bad request on a tunnel connection');
    socket.destroy();
  });

  return {
    grant: (grantOptions) => {
      if (closed) throw new Error('the LLM gateway is closed; it grants nothing more');
      return grants.grant(grantOptions);
    },
    accept(socket, sessionId) {
      if (closed) {
        socket.destroy();
        return;
      }
      sessions.set(socket, sessionId);
      connections.add(socket);
      socket.once('close', () => connections.delete(socket));
      server.emit('connection', socket);
    },
    async close() {
      closed = true;
      grants.revokeAll();
      for (const socket of connections) socket.destroy();
      connections.clear();
    },
  };
}
