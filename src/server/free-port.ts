import { createServer } from 'node:net';

/**
 * Asks the OS for a free port. Probot's Server treats port 0 as "use 3000", so an ephemeral
 * port (tests, benchmarks) has to be chosen before it starts.
 */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0 }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
