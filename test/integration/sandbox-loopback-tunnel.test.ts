import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import Dockerode from 'dockerode';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DockerRuntime } from '../../src/sandbox/docker/docker-runtime.js';
import { SandboxStoppedError } from '../../src/sandbox/docker/docker-sandbox.js';
import { RELAY_MARKER } from '../../src/sandbox/docker/loopback-relay.js';
import { openLoopbackTunnel } from '../../src/sandbox/docker/loopback-tunnel.js';
import type { LoopbackService, Sandbox, SandboxLimits } from '../../src/sandbox/runtime.js';
import { SANDBOX_CONTEXT_DIR, TEST_BASE_IMAGE, ensureTestImage } from '../helpers/sandbox-image.js';
import { within } from '../helpers/within.js';

const docker = new Dockerode();
const instance = `loopback-test-${randomUUID().slice(0, 8)}`;
const MiB = 1024 * 1024;
const limits: SandboxLimits = { memoryBytes: 512 * MiB, cpus: 2, pids: 256, wallClockMs: 600_000 };
const PORT = 41414;
/** curl's exit code for "could not connect". */
const CURL_COULDNT_CONNECT = 7;

let runtime: DockerRuntime;
let shared: Sandbox;
const services: LoopbackService[] = [];
const servers: Server[] = [];

async function newSandbox(): Promise<Sandbox> {
  return runtime.create({ sessionId: `lb-${randomUUID().slice(0, 12)}`, network: 'none', limits });
}

/** An http.Server that listens on nothing: the tunnel hands it the sandbox's connections. */
async function serveHttp(sandbox: Sandbox, port: number, handler: RequestListener): Promise<{ server: Server; service: LoopbackService }> {
  const server = createServer(handler);
  servers.push(server);
  const service = await sandbox.serveLoopbackPort!(port, (socket: Duplex) => server.emit('connection', socket));
  services.push(service);
  return { server, service };
}

async function run(sandbox: Sandbox, script: string, timeoutMs = 60_000) {
  return sandbox.exec(['sh', '-c', script], { timeoutMs });
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function waitFor(what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

beforeAll(async () => {
  const image = await ensureTestImage();
  runtime = new DockerRuntime({ image, baseImage: TEST_BASE_IMAGE, contextDir: SANDBOX_CONTEXT_DIR, instanceLabel: instance });
  shared = await newSandbox();
}, 600_000);

afterEach(async () => {
  await Promise.all(services.splice(0).map((service) => service.close()));
  for (const server of servers.splice(0)) server.close();
});

afterAll(async () => {
  const leftovers = await docker.listContainers({ all: true, filters: { label: [`telecoder.instance=${instance}`] } });
  await Promise.all(leftovers.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
});

describe('DockerSandbox.serveLoopbackPort', () => {
  it('hands a connection to 127.0.0.1:PORT inside the sandbox to the server, in a sandbox without network', async () => {
    const info = await docker.getContainer(shared.id).inspect();
    expect(info.HostConfig.NetworkMode).toBe('none');
    const seen: string[] = [];
    await serveHttp(shared, PORT, (request, response) => {
      seen.push(`${request.method} ${request.url} ${request.headers['x-probe']}`);
      response.setHeader('x-from', 'server');
      response.end('hello from the server');
    });

    const result = await run(shared, `curl -sS -i -H 'x-probe: p1' http://127.0.0.1:${PORT}/v1/probe`);
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/^HTTP\/1\.1 200/);
    expect(result.stdout).toContain('x-from: server');
    expect(result.stdout).toContain('hello from the server');
    expect(seen).toEqual(['GET /v1/probe p1']);
  });

  it('carries 5 MB each way intact', async () => {
    const download = randomBytes(5 * MiB);
    let uploadHash = '';
    let uploadSize = -1;
    await serveHttp(shared, PORT, (request, response) => {
      void readBody(request).then((body) => {
        uploadHash = sha256(body);
        uploadSize = body.length;
        response.end(download);
      });
    });

    const result = await run(
      shared,
      `head -c ${5 * MiB} /dev/urandom > /tmp/up && sha256sum /tmp/up | cut -d' ' -f1 && ` +
        `curl -sS --fail --data-binary @/tmp/up -H 'content-type: application/octet-stream' -o /tmp/down http://127.0.0.1:${PORT}/upload && ` +
        `sha256sum /tmp/down | cut -d' ' -f1 && stat -c %s /tmp/down`,
    );
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    const [sentHash, receivedHash, receivedSize] = result.stdout.trim().split('\n');
    expect(uploadSize).toBe(5 * MiB);
    expect(uploadHash).toBe(sentHash);
    expect(receivedSize).toBe(String(5 * MiB));
    expect(receivedHash).toBe(sha256(download));
  });

  it('delivers a streamed response chunk by chunk', async () => {
    let response: ServerResponse | undefined;
    await serveHttp(shared, PORT, (_request, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first chunk\n');
      response = res;
    });

    const curl = run(shared, `curl -sS -N -o /tmp/stream.txt http://127.0.0.1:${PORT}/stream && cat /tmp/stream.txt`);
    // The last chunk is only sent once the first has reached curl's output inside the sandbox.
    await waitFor('the first chunk reaching the sandbox', async () => {
      const seen = await run(shared, 'cat /tmp/stream.txt 2>/dev/null || true', 10_000);
      return seen.stdout.includes('first chunk');
    });
    expect(response?.writableEnded).toBe(false);
    response!.end('last chunk\n');
    const result = await curl;
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe('first chunk\nlast chunk\n');
  });

  it('serves 20 connections at once', async () => {
    const waiting: Array<{ url: string; response: ServerResponse }> = [];
    await serveHttp(shared, PORT, (request, response) => {
      waiting.push({ url: request.url ?? '', response });
      // Nobody is answered until all 20 are in: one at a time would never get there.
      if (waiting.length === 20) for (const held of waiting) held.response.end(`answer ${held.url}`);
    });

    const result = await run(
      shared,
      `for i in $(seq 1 20); do curl -sS --max-time 30 -o /tmp/c$i http://127.0.0.1:${PORT}/$i & done; wait; ` +
        'for i in $(seq 1 20); do cat /tmp/c$i; echo; done',
    );
    expect(result.stderr).toBe('');
    expect(result.stdout.trim().split('\n')).toEqual(Array.from({ length: 20 }, (_, i) => `answer /${i + 1}`));
    expect(waiting).toHaveLength(20);
  });

  it('holds a fast sender back while the server does not read, then delivers everything', async () => {
    const total = 64 * MiB;
    let accepted: Duplex | undefined;
    const service = await shared.serveLoopbackPort!(PORT, (socket) => {
      accepted = socket;
    });
    services.push(service);
    // Writes `total` bytes as fast as the connection takes them and reports how far it got.
    const writer =
      `const s = require('net').connect(${PORT}, '127.0.0.1'); let sent = 0; const chunk = Buffer.alloc(${MiB}, 7); ` +
      `const fs = require('fs'); setInterval(() => fs.writeFileSync('/tmp/sent', String(sent)), 100); ` +
      `function go() { while (sent < ${total}) { sent += chunk.length; if (!s.write(chunk)) { s.once('drain', go); return; } } ` +
      `s.end(() => { fs.writeFileSync('/tmp/sent', String(sent)); process.exit(0); }); } s.on('connect', go);`;
    const sender = shared.exec(['node', '-e', writer], { timeoutMs: 60_000 });
    await waitFor('the connection reaching the server', async () => accepted !== undefined);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const sent = Number((await run(shared, 'cat /tmp/sent', 10_000)).stdout);
    // Socket buffers inside the sandbox and the tunnel's window hold a few MB; never all of it.
    expect(sent).toBeGreaterThan(0);
    expect(sent).toBeLessThan(total / 2);

    let received = 0;
    accepted!.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    await within(new Promise((resolve) => accepted!.once('end', resolve)), 30_000, 'the end of the upload');
    expect(received).toBe(total);
    expect((await sender).exitCode).toBe(0);
    accepted!.end();
  });

  it('holds the server back while the sandbox does not read', async () => {
    let accepted: Duplex | undefined;
    const service = await shared.serveLoopbackPort!(PORT, (socket) => {
      accepted = socket;
    });
    services.push(service);
    // Connects, reads nothing for 6 s, then counts every byte until the end.
    const reader =
      `const s = require('net').connect(${PORT}, '127.0.0.1'); s.pause(); let got = 0; ` +
      `setTimeout(() => { s.on('data', (c) => { got += c.length; }); s.on('end', () => { console.log(got); process.exit(0); }); s.resume(); }, 6000);`;
    const sandboxReader = shared.exec(['node', '-e', reader], { timeoutMs: 60_000 });
    await waitFor('the connection reaching the server', async () => accepted !== undefined);
    const socket = accepted!;
    const total = 64 * MiB;
    const chunk = Buffer.alloc(MiB, 9);
    let written = 0;
    const pump = (async () => {
      while (written < total) {
        const room = socket.write(chunk);
        written += chunk.length;
        if (!room) await new Promise((resolve) => socket.once('drain', resolve));
      }
      socket.end();
    })();
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    // While nobody reads in the sandbox, the writer waits: socket buffers in the sandbox and the
    // tunnel's window hold a few MB, never the whole 64 MB.
    expect(written).toBeGreaterThan(0);
    expect(written).toBeLessThan(total / 2);
    await pump;
    const result = await sandboxReader;
    expect(result.exitCode).toBe(0);
    expect(Number(result.stdout.trim())).toBe(total);
  });

  it('half-closes: the server still answers after the sandbox finished sending', async () => {
    let got = '';
    await shared.serveLoopbackPort!(PORT, (socket) => {
      socket.on('data', (chunk: Buffer) => {
        got += chunk.toString();
      });
      socket.on('end', () => socket.end(`echo:${got}`));
    }).then((service) => services.push(service));
    const client =
      `const s = require('net').connect(${PORT}, '127.0.0.1', () => s.end('ping')); let got = ''; ` +
      `s.on('data', (c) => { got += c; }); s.on('end', () => { console.log(got); });`;
    const result = await shared.exec(['node', '-e', client], { timeoutMs: 30_000 });
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe('echo:ping');
  });

  it('close(): the port refuses connections afterwards, open connections end, ended resolves undefined', async () => {
    let open: Duplex | undefined;
    const service = await shared.serveLoopbackPort!(PORT, (socket) => {
      open = socket;
    });
    const before = run(shared, `curl -sS --max-time 30 http://127.0.0.1:${PORT}/hangs`);
    await waitFor('the connection reaching the server', async () => open !== undefined);

    await service.close();
    await service.close();
    expect(await within(service.ended, 5_000, 'ended')).toBeUndefined();
    expect(open!.destroyed).toBe(true);
    // The request in flight is cut rather than left hanging until curl's own timeout.
    const cut = await before;
    expect(cut.exitCode).not.toBe(0);
    expect(cut.exitCode).not.toBe(28);

    const after = await run(shared, `curl -sS http://127.0.0.1:${PORT}/`);
    expect(after.exitCode).toBe(CURL_COULDNT_CONNECT);
    const relays = await run(shared, `pgrep -f '${RELAY_MARKER.slice(0, -1)}[${RELAY_MARKER.at(-1)}]' || true`, 10_000);
    expect(relays.stdout.trim()).toBe('');
  });

  it('another sandbox cannot reach the port', async () => {
    await serveHttp(shared, PORT, (_request, response) => response.end('only for the first sandbox'));
    const other = await newSandbox();
    try {
      const inFirst = await run(shared, `curl -sS http://127.0.0.1:${PORT}/`);
      expect(inFirst.stdout).toBe('only for the first sandbox');
      const inOther = await run(other, `curl -sS http://127.0.0.1:${PORT}/`);
      expect(inOther.exitCode).toBe(CURL_COULDNT_CONNECT);
    } finally {
      await other.destroy();
    }
  });

  it('refuses a port something in the sandbox already listens on', async () => {
    await serveHttp(shared, PORT, (_request, response) => response.end('first'));
    await expect(shared.serveLoopbackPort!(PORT, () => undefined)).rejects.toThrow(/EADDRINUSE.*already listens on that port/s);
    // The first service is untouched.
    expect((await run(shared, `curl -sS http://127.0.0.1:${PORT}/`)).stdout).toBe('first');
  });

  it('says what is missing when the sandbox has no node', async () => {
    await expect(
      openLoopbackTunnel({
        docker,
        container: docker.getContainer(shared.id),
        port: PORT,
        onConnection: () => undefined,
        user: '1000:1000',
        kill: () => undefined,
        node: '/nonexistent/node',
      }),
    ).rejects.toThrow(/needs `node` on its PATH/);
  });

  it('ended resolves with an error when the relay is killed from inside the sandbox', async () => {
    const { service } = await serveHttp(shared, PORT, (_request, response) => response.end('up'));
    expect((await run(shared, `curl -sS http://127.0.0.1:${PORT}/`)).stdout).toBe('up');
    // The bracket keeps pkill from matching the shell that runs it.
    const kill = await run(shared, `pkill -KILL -f '${RELAY_MARKER.slice(0, -1)}[${RELAY_MARKER.at(-1)}]'`, 10_000);
    expect(kill.exitCode).toBe(0);
    const ended = await within(service.ended, 10_000, 'ended');
    expect(ended).toBeInstanceOf(Error);
    expect(ended!.message).toMatch(/ended unexpectedly/);
    expect((await run(shared, `curl -sS http://127.0.0.1:${PORT}/`)).exitCode).toBe(CURL_COULDNT_CONNECT);
  });

  it('ends the service with an error, and nothing worse, when something in the sandbox forges relay output', async () => {
    const { service } = await serveHttp(shared, PORT, (_request, response) => response.end('up'));
    // The relay runs as the sandbox user, so the sandbox can write into its stdout pipe.
    const pattern = `${RELAY_MARKER.slice(0, -1)}[${RELAY_MARKER.at(-1)}]`;
    const forged = await run(shared, `pid=$(pgrep -f '${pattern}'); printf 'XXXXXXXXXXXXXXXXXXXXXXXX' > /proc/$pid/fd/1`, 10_000);
    expect(forged.stderr).toBe('');
    const ended = await within(service.ended, 10_000, 'ended');
    expect(ended).toBeInstanceOf(Error);
    expect(ended!.message).toMatch(/tampered/);
    expect((await run(shared, `curl -sS http://127.0.0.1:${PORT}/`)).exitCode).toBe(CURL_COULDNT_CONNECT);
  });

  it('ended resolves with SandboxStoppedError when the sandbox is destroyed', async () => {
    const sandbox = await newSandbox();
    const service = await sandbox.serveLoopbackPort!(PORT, () => undefined);
    await sandbox.destroy();
    const ended = await within(service.ended, 10_000, 'ended');
    expect(ended).toBeInstanceOf(SandboxStoppedError);
  });
});
