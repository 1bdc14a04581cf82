import { PassThrough, type Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import { z } from 'zod';

const reportSchema = z.discriminatedUnion('event', [
  z.object({ event: z.literal('listening'), port: z.number() }),
  z.object({
    event: z.literal('blocked'),
    host: z.string().max(300),
    port: z.number().int(),
    reason: z.enum(['not-allowed', 'address']),
    detail: z.string().max(1000),
    via: z.string().max(64),
  }),
]);

/** One line the proxy writes on stdout (sandbox/egress-proxy/main.mjs). */
export type ProxyReport = z.infer<typeof reportSchema>;

/** A report, or undefined for a line that is not one (a crash trace, say). */
export function parseProxyReport(line: string): ProxyReport | undefined {
  try {
    const parsed = reportSchema.safeParse(JSON.parse(line));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

export interface FollowedLogs {
  /** Resolves when the log stream ends (the container stopped or was removed, or `stop` was called). */
  ended: Promise<void>;
  stop(): void;
}

/**
 * Follows a container's stdout from `since` (Docker timestamps, RFC 3339 with nanoseconds) and
 * calls `onLine` with each line after the one stamped `after`, with its stamp, so a follow that
 * starts again after a restart neither repeats nor skips a report.
 */
export async function followLogs(
  container: Dockerode.Container,
  options: { sinceSeconds: number; after?: string; onLine: (line: string, timestamp: string) => void },
): Promise<FollowedLogs> {
  const stream = (await container.logs({
    follow: true,
    stdout: true,
    stderr: false,
    timestamps: true,
    since: options.sinceSeconds,
  })) as unknown as Readable;
  const stdout = new PassThrough();
  // Not a TTY: stdout and stderr come multiplexed, even with one of them asked for.
  container.modem.demuxStream(stream, stdout, new PassThrough());
  let pending = '';
  stdout.setEncoding('utf8');
  stdout.on('data', (chunk: string) => {
    pending += chunk;
    let newline: number;
    while ((newline = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      const space = line.indexOf(' ');
      const timestamp = space > 0 ? line.slice(0, space) : '';
      if (options.after && timestamp <= options.after) continue;
      options.onLine(line.slice(space + 1), timestamp);
    }
  });
  const ended = new Promise<void>((resolve) => {
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', () => resolve());
  });
  return { ended, stop: () => stream.destroy() };
}
