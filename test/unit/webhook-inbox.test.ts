import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InboxProcessor, type HandleInboxDelivery } from '../../src/github/inbox/inbox-processor.js';
import { SqliteWebhookInbox } from '../../src/github/inbox/sqlite-webhook-inbox.js';
import { createLogger } from '../../src/logger.js';

const logger = createLogger('silent');

/** The inbox on a real SQLite file, and a handler that records what it ran and can be held. */
describe('the webhook inbox and its processor', () => {
  const dirs: string[] = [];
  const inboxes: SqliteWebhookInbox[] = [];
  afterEach(() => {
    for (const inbox of inboxes.splice(0)) inbox.close();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  function open(file?: string) {
    if (!file) {
      const dir = mkdtempSync(join(tmpdir(), 'telecoder-inbox-'));
      dirs.push(dir);
      file = join(dir, 'telecoder.db');
    }
    const inbox = SqliteWebhookInbox.open({ file });
    inboxes.push(inbox);
    return { inbox, file };
  }

  const delivery = (id: string, repository: string) => ({ id, name: 'issues', payload: { id }, installationId: 1, repository });

  it('handles one repository in arrival order and several repositories at once, up to the limit', async () => {
    const { inbox } = open();
    const log: string[] = [];
    let running = 0;
    let peak = 0;
    const handle: HandleInboxDelivery = async (d) => {
      running++;
      peak = Math.max(peak, running);
      log.push(`start ${d.id}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
      log.push(`end ${d.id}`);
      running--;
    };
    const processor = new InboxProcessor({ inbox, handle, logger, concurrency: 2 });
    processor.start();
    for (const id of ['a1', 'a2', 'a3']) processor.accept(delivery(id, 'o/a'));
    for (const id of ['b1', 'c1', 'd1']) processor.accept(delivery(id, `o/${id[0]}`));
    await processor.idle();
    // Within o/a, each starts after the previous ended.
    expect(log.indexOf('start a2')).toBeGreaterThan(log.indexOf('end a1'));
    expect(log.indexOf('start a3')).toBeGreaterThan(log.indexOf('end a2'));
    expect(peak).toBe(2);
    expect(log.filter((entry) => entry.startsWith('end'))).toHaveLength(6);
    expect(inbox.pending()).toEqual([]);
  });

  it('lends the slot of a delivery waiting out its retry to another repository, and takes it back before new work', async () => {
    const { inbox } = open();
    const log: string[] = [];
    let running = 0;
    let peak = 0;
    const processor = new InboxProcessor({
      inbox,
      logger,
      concurrency: 1,
      retryDelaysMs: [150],
      handle: async (d, { lastAttempt }) => {
        running++;
        peak = Math.max(peak, running);
        log.push(`${d.id}${lastAttempt ? ' last' : ''}`);
        await new Promise((resolve) => setTimeout(resolve, d.id === 'b1' ? 300 : 5));
        running--;
        if (d.id === 'a1' && !lastAttempt) throw new Error('GitHub answered 502');
      },
    });
    processor.start();
    processor.accept(delivery('a1', 'o/a'));
    processor.accept(delivery('b1', 'o/b'));
    processor.accept(delivery('a2', 'o/a'));
    processor.accept(delivery('c1', 'o/c'));
    await processor.idle();
    // b1 ran while a1 waited; a1's retry came before c1, which was waiting longer; a2 after a1.
    expect(log).toEqual(['a1', 'b1', 'a1 last', 'a2', 'c1']);
    expect(peak).toBe(1);
  });

  it('stores a redelivery once', async () => {
    const { inbox } = open();
    const seen: string[] = [];
    const processor = new InboxProcessor({ inbox, handle: async (d) => void seen.push(d.id), logger });
    processor.start();
    expect(processor.accept(delivery('x', 'o/a'))).toBe(true);
    expect(processor.accept(delivery('x', 'o/a'))).toBe(false);
    await processor.idle();
    expect(processor.accept(delivery('x', 'o/a'))).toBe(false);
    await processor.idle();
    expect(seen).toEqual(['x']);
  });

  it('retries a failing delivery, says which attempt is the last, and forgets it after that', async () => {
    const { inbox } = open();
    const attempts: boolean[] = [];
    const processor = new InboxProcessor({
      inbox,
      logger,
      retryDelaysMs: [1, 1],
      handle: async (_d, { lastAttempt }) => {
        attempts.push(lastAttempt);
        throw new Error('GitHub answered 502');
      },
    });
    processor.start();
    processor.accept(delivery('y', 'o/a'));
    await processor.idle();
    expect(attempts).toEqual([false, false, true]);
    expect(inbox.pending()).toEqual([]);
    // Forgotten, so a redelivery from GitHub's page is handled afresh.
    expect(processor.accept(delivery('y', 'o/a'))).toBe(true);
    await processor.idle();
  });

  it('leaves what was not done for the next start, with its attempts counted', async () => {
    const { inbox, file } = open();
    const first = new InboxProcessor({ inbox, logger, retryDelaysMs: [60_000], handle: async () => Promise.reject(new Error('502')) });
    first.start();
    first.accept(delivery('z', 'o/a'));
    first.accept(delivery('w', 'o/b'));
    await new Promise((resolve) => setTimeout(resolve, 20));
    // z and w failed once and wait a minute for their retry; stop does not wait for it.
    await first.stop(Date.now() + 1_000);
    inbox.close();

    const { inbox: reopened } = open(file);
    expect(reopened.pending().map((d) => [d.id, d.attempts])).toEqual([
      ['z', 1],
      ['w', 1],
    ]);
    const handled: Array<[string, boolean]> = [];
    const recovered: string[] = [];
    const second = new InboxProcessor({
      inbox: reopened,
      logger,
      retryDelaysMs: [60_000],
      recover: (d) => recovered.push(d.id),
      handle: async (d, { lastAttempt }) => void handled.push([d.id, lastAttempt]),
    });
    second.start();
    await second.idle();
    expect(recovered).toEqual(['z', 'w']);
    expect(handled).toEqual([
      ['z', true],
      ['w', true],
    ]);
  });

  it('prunes done deliveries older than it keeps them', async () => {
    const { inbox } = open();
    const processor = new InboxProcessor({ inbox, logger, handle: async () => undefined });
    processor.start();
    processor.accept(delivery('old', 'o/a'));
    await processor.idle();
    expect(inbox.prune(new Date(Date.now() - 60_000))).toBe(0);
    expect(inbox.prune(new Date(Date.now() + 1_000))).toBe(1);
    // Pruned: the id is no longer known to the inbox (the session store's claim still is).
    expect(inbox.add(delivery('old', 'o/a'))).toBe(true);
  });
});
