/**
 * The subscribers of bench/sse-fanout.ts, in a process of their own so that reading a thousand
 * sockets does not share the server's event loop. Driven over IPC by the bench:
 *
 *   { kind: 'open', group, url, count, stalled? } → opens `count` streams on raw sockets (stalled:
 *     sends the request and never reads); answers { kind: 'opened', group } once every reading
 *     stream has its `200` (the server subscribes before it answers), at once for stalled ones.
 *   { kind: 'collect', group } → answers { kind: 'times', group, times } and closes the group:
 *     for each event id, the moment each stream had the whole event (process.hrtime in ms: the
 *     monotonic clock, the same in both processes), and { kind: 'failed', … } on a broken stream.
 */
import { connect, type Socket } from 'node:net';

export type ClientCommand =
  | { kind: 'open'; group: string; url: string; count: number; stalled?: boolean }
  | { kind: 'collect'; group: string };

export type ClientReport =
  | { kind: 'opened'; group: string }
  | { kind: 'times'; group: string; times: Record<string, number[]>; ended: number }
  | { kind: 'failed'; message: string };

interface Group {
  sockets: Socket[];
  times: Map<number, number[]>;
  ended: number;
}

const groups = new Map<string, Group>();
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
const send = (report: ClientReport) => process.send!(report);

/** Opens at most this many connections at a time: the listen backlog is finite. */
const OPEN_BATCH = 100;

function openOne(group: Group, url: URL, stalled: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    group.sockets.push(socket);
    socket.setNoDelay(true);
    socket.on('error', reject); // after the answer a no-op: a cut stream shows as missing events
    socket.once('connect', () => {
      socket.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nAccept: text/event-stream\r\n\r\n`);
      if (stalled) {
        socket.pause();
        resolve();
        return;
      }
      let text = '';
      let answered = false;
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        const at = nowMs();
        text += chunk;
        if (!answered) {
          if (!text.includes('\r\n\r\n')) return;
          if (!text.startsWith('HTTP/1.1 200')) {
            reject(new Error(`${url.href} answered ${text.split('\r\n')[0]}`));
            return;
          }
          answered = true;
          text = text.slice(text.indexOf('\r\n\r\n') + 4);
          resolve();
        }
        // Only whole events count as received: up to the last blank line.
        const end = text.lastIndexOf('\n\n');
        if (end < 0) return;
        const complete = text.slice(0, end);
        text = text.slice(end + 2);
        for (const match of complete.matchAll(/^id: (\d+)$/gm)) {
          const id = Number(match[1]);
          let list = group.times.get(id);
          if (!list) group.times.set(id, (list = []));
          list.push(at);
        }
      });
      socket.once('end', () => {
        group.ended += 1;
      });
    });
  });
}

async function open(command: Extract<ClientCommand, { kind: 'open' }>): Promise<void> {
  const group: Group = { sockets: [], times: new Map(), ended: 0 };
  groups.set(command.group, group);
  const url = new URL(command.url);
  for (let opened = 0; opened < command.count; opened += OPEN_BATCH) {
    const batch = Math.min(OPEN_BATCH, command.count - opened);
    await Promise.all(Array.from({ length: batch }, () => openOne(group, url, command.stalled ?? false)));
  }
  send({ kind: 'opened', group: command.group });
}

function collect(name: string): void {
  const group = groups.get(name);
  if (!group) throw new Error(`no group "${name}" was opened`);
  groups.delete(name);
  for (const socket of group.sockets) socket.destroy();
  send({ kind: 'times', group: name, times: Object.fromEntries(group.times), ended: group.ended });
}

process.on('message', (command: ClientCommand) => {
  try {
    if (command.kind === 'open') {
      open(command).catch((error: unknown) => send({ kind: 'failed', message: String(error) }));
    } else {
      collect(command.group);
    }
  } catch (error) {
    send({ kind: 'failed', message: String(error) });
  }
});
process.on('disconnect', () => process.exit(0));
