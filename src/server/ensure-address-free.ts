import { createServer } from 'node:net';
import { TeleCoderError } from '../errors.js';

/** What to do when TELECODER_ADDR is taken (Probot's own message names PORT, which TeleCoder does not read). */
export function addressInUseError(host: string, port: number, cause?: unknown): TeleCoderError {
  const at = (p: number) => `${host.includes(':') ? `[${host}]` : host}:${p}`;
  return new TeleCoderError(
    `telecoder: ${at(port)} is already in use (another TeleCoder, or another program). Stop it, or set ` +
      `TELECODER_ADDR to a free address, e.g. TELECODER_ADDR=${at(port + 1)}`,
    500,
    { cause },
  );
}

/**
 * Fails with addressInUseError when something already listens on host:port. Checked before
 * anything else starts, so that Probot's server, which logs its own advice to set PORT, never
 * meets a taken port in the common case (a race is still caught where the server listens).
 */
export function ensureAddressFree(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.unref();
    probe.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'EADDRINUSE' ? addressInUseError(host, port, error) : error),
    );
    probe.listen({ host, port }, () => probe.close(() => resolve()));
  });
}
