/**
 * The loopback relay: a small Node program run inside the sandbox (`node -e RELAY_SCRIPT <port>`)
 * by loopback-tunnel.ts. It listens on 127.0.0.1:<port> and carries every connection it accepts
 * over its own stdin/stdout, which are one `docker exec` attached to the server, so the server
 * listens on no socket at all.
 *
 * Frames, both ways: type (1 byte), connection id (4 bytes, big-endian), payload length (4 bytes,
 * big-endian), payload. Flow control is per connection, as in HTTP/2: a side sends at most WINDOW
 * bytes the other has not acknowledged (ACK frames, sent once the data was handed on), so a slow
 * reader on either side slows its own connection down and nothing piles up.
 *
 * The relay runs as the sandbox user, so anything in the sandbox can kill it or write into its
 * pipes: it trusts nothing it reads (bounded frames, unknown ids and types ignored, an oversized
 * frame ends it), and the server treats what comes out of it the same way. Only what the
 * sandbox's own clients send, and the server's answers to them, ever pass through it.
 *
 * Kept as plain ES2020 CommonJS in a string so it needs nothing but `node` in the image and works
 * from dist/ as well as from the sources.
 */

import { SANDBOX_FRAMES_JS } from './frames.js';
export const LOOPBACK_PROTOCOL_VERSION = 1;

export const FrameType = {
  /** relay → server, first frame: payload [version]. */
  HELLO: 1,
  /** relay → server: the port is listening. */
  LISTENING: 2,
  /** relay → server: listening failed; payload "CODE message" (UTF-8). The relay then exits. */
  LISTEN_ERROR: 3,
  /** relay → server: a connection was accepted. */
  OPEN: 4,
  /** both ways: bytes of a connection. */
  DATA: 5,
  /** both ways: the sender will write no more on this connection (half-close). */
  END: 6,
  /** both ways: the connection is gone (closed or reset); nothing more either way. */
  CLOSE: 7,
  /** both ways: payload [bytes as 4-byte big-endian]: that many DATA bytes were handed on. */
  ACK: 8,
} as const;

/** The largest DATA payload; control frames are far smaller. */
export const MAX_FRAME_PAYLOAD = 64 * 1024;
/** Unacknowledged bytes a side may have in flight per connection. */
export const FLOW_WINDOW = 256 * 1024;
/** Connections the relay holds open at once; more are refused (closed at once). */
export const MAX_CONNECTIONS = 256;

/** Lets tests and `pkill -f` find the relay's process by its command line. */
export const RELAY_MARKER = 'telecoder-loopback-relay';

export const RELAY_SCRIPT = `// ${RELAY_MARKER}
'use strict';
const net = require('net');
const T = ${JSON.stringify(FrameType)};
const MAX_PAYLOAD = ${MAX_FRAME_PAYLOAD};
const WINDOW = ${FLOW_WINDOW};
const MAX_CONNECTIONS = ${MAX_CONNECTIONS};
const port = Number(process.argv[1]);
const out = process.stdout;

function die(message) {
  try { process.stderr.write('${RELAY_MARKER}: ' + message + '\\n'); } catch (e) {}
  process.exit(1);
}
if (!Number.isInteger(port) || port < 1 || port > 65535) die('bad port ' + process.argv[1]);
out.on('error', () => process.exit(1));

${SANDBOX_FRAMES_JS}
function u32(n) {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n, 0);
  return b;
}

const connections = new Map();
let nextId = 1;

const server = net.createServer({ allowHalfOpen: true }, (socket) => {
  if (connections.size >= MAX_CONNECTIONS) {
    socket.destroy();
    return;
  }
  const id = nextId;
  nextId = nextId >= 0xffffffff ? 1 : nextId + 1;
  const c = { socket: socket, unacked: 0, closed: false, serverEnded: false };
  connections.set(id, c);
  socket.setNoDelay(true);
  send(T.OPEN, id);
  socket.on('data', (chunk) => {
    for (let o = 0; o < chunk.length; o += MAX_PAYLOAD) send(T.DATA, id, chunk.subarray(o, o + MAX_PAYLOAD));
    c.unacked += chunk.length;
    if (c.unacked >= WINDOW) socket.pause();
  });
  socket.on('end', () => { if (!c.closed) send(T.END, id); });
  socket.on('error', () => {});
  socket.on('close', () => {
    connections.delete(id);
    if (!c.closed) {
      c.closed = true;
      send(T.CLOSE, id);
    }
  });
});
server.on('error', (error) => {
  send(T.LISTEN_ERROR, 0, Buffer.from(String(error.code || 'ERROR') + ' ' + String(error.message).slice(0, 500)));
  process.exit(1);
});

function onFrame(type, id, payload) {
  const c = connections.get(id);
  if (!c) return;
  if (type === T.DATA) {
    const n = payload.length;
    c.socket.write(payload, () => { if (connections.get(id) === c) send(T.ACK, id, u32(n)); });
  } else if (type === T.END) {
    c.serverEnded = true;
    c.socket.end();
  } else if (type === T.CLOSE) {
    c.closed = true;
    connections.delete(id);
    // After the server's END this is no abort: what it wrote before still reaches the client.
    if (c.serverEnded && !c.socket.writableFinished) c.socket.once('finish', () => c.socket.destroy());
    else c.socket.destroy();
  } else if (type === T.ACK && payload.length === 4) {
    c.unacked = Math.max(0, c.unacked - payload.readUInt32BE(0));
    if (c.unacked < WINDOW && c.socket.isPaused()) c.socket.resume();
  }
}

readFrames(MAX_PAYLOAD, onFrame);
// The server closing stdin (or going away) ends the relay and every connection with it.
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(1));

send(T.HELLO, 0, Buffer.from([${LOOPBACK_PROTOCOL_VERSION}]));
server.listen({ host: '127.0.0.1', port: port, exclusive: true }, () => send(T.LISTENING, 0));
`;
