import net from 'node:net';

const LOOPBACK = /^(?:127\.\d+\.\d+\.\d+|localhost|::1|\[::1\])$/;

export interface ConnectionRecorder {
  /** `host:port` of every TCP connection attempted to anything but loopback (unix sockets are not counted). */
  readonly outside: string[];
  restore(): void;
}

/**
 * Records every TCP connection this process attempts beyond loopback, at the socket: nock sees
 * only the global fetch, while Probot's smee client, for one, brings its own HTTP stack (undici).
 * Every net and tls connection goes through net.Socket.prototype.connect.
 */
export function recordConnections(): ConnectionRecorder {
  const outside: string[] = [];
  const original = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function connect(this: net.Socket, ...args: unknown[]) {
    const first = args[0];
    const target =
      Array.isArray(first) ? (first[0] as { host?: string; port?: number; path?: string }) :
      typeof first === 'object' && first !== null ? (first as { host?: string; port?: number; path?: string }) :
      typeof first === 'number' ? { port: first, host: typeof args[1] === 'string' ? args[1] : 'localhost' } :
      { path: String(first) };
    if (target.path === undefined && !LOOPBACK.test(target.host ?? 'localhost')) outside.push(`${target.host}:${target.port}`);
    return (original as (...a: unknown[]) => net.Socket).apply(this, args);
  } as typeof original;
  return {
    outside,
    restore: () => {
      net.Socket.prototype.connect = original;
    },
  };
}
