import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import type { WarmRequest } from '../../src/sandbox/runtime.js';
import { InMemorySandboxClaims, type SandboxClaims } from '../../src/sandbox/sandbox-claims.js';
import { WarmKeyChangedError, WarmPool, type WarmKey, type WarmMember } from '../../src/sandbox/docker/warm-pool.js';
import { SqliteSandboxClaims } from '../../src/store/sqlite/sqlite-sandbox-claims.js';
import { waitUntil } from '../helpers/wait-until.js';

const limits = { memoryBytes: 512 * 1024 * 1024, cpus: 1, pids: 256, wallClockMs: 60_000 };
const requestFor = (repo: string, cpus = 1): WarmRequest => ({ network: 'none', limits: { ...limits, cpus }, cache: { repo } });
/** Keys the way the Docker runtime makes them: the shape (image, limits, network), then the repository. */
const keyFor = (request: WarmRequest, image = 'image-1'): WarmKey => {
  const shape = JSON.stringify([image, request.network, request.limits]);
  const repo = request.cache?.repo ?? '';
  return { repo, shape, full: JSON.stringify([shape, repo]) };
};

/** A stand-in for a sandbox: the pool's logic needs only its id, its end and its removal. */
class FakeMember implements WarmMember {
  static made = 0;
  readonly id = `sandbox-${++FakeMember.made}`;
  destroyed = false;
  #end: (value: unknown) => void = () => undefined;
  readonly exited = new Promise((resolve) => (this.#end = resolve));
  constructor(readonly key: string) {}
  async destroy(): Promise<void> {
    this.destroyed = true;
    this.#end('removed');
  }
  /** Killed from outside (Docker restarted, say). */
  die(): void {
    this.#end('killed');
  }
}

describe('the warm pool', () => {
  const pools: Array<WarmPool<FakeMember>> = [];
  const dirs: string[] = [];
  afterEach(async () => {
    for (const pool of pools.splice(0)) await pool.close();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  function poolOf(size: number, options: { claims?: SandboxClaims; make?: (key: WarmKey) => Promise<FakeMember> } = {}) {
    const made: FakeMember[] = [];
    const pool = new WarmPool<FakeMember>({
      size,
      maxIdleMs: 60_000,
      keyOf: async (request) => keyFor(request),
      make: async (_request, key) => {
        const member = options.make ? await options.make(key) : new FakeMember(key.full);
        made.push(member);
        return member;
      },
      claims: options.claims ?? new InMemorySandboxClaims(),
      logger: createLogger('silent'),
      retryDelaysMs: [20],
      refillDelayMs: 10,
    });
    pools.push(pool);
    return { pool, made };
  }

  it('makes sandboxes for the repositories asked for last, one each, newest first, and no more than its size', async () => {
    const { pool, made } = poolOf(2);
    const [a, b, c] = [requestFor('acme/a'), requestFor('acme/b'), requestFor('acme/c')];
    pool.want(a, keyFor(a));
    pool.want(b, keyFor(b));
    await pool.settled();
    expect(pool.ready().sort()).toEqual([keyFor(a).full, keyFor(b).full].sort());
    // A third repository pushes out the oldest: its sandbox is removed, c's is made.
    pool.want(c, keyFor(c));
    await pool.settled();
    expect(pool.ready().sort()).toEqual([keyFor(b).full, keyFor(c).full].sort());
    expect(made.filter((member) => member.destroyed).map((member) => member.key)).toEqual([keyFor(a).full]);
  });

  it('gives a sandbox to one session only, however many ask at once, and makes a replacement', async () => {
    const claims = new InMemorySandboxClaims();
    const { pool } = poolOf(1, { claims });
    const request = requestFor('acme/a');
    pool.want(request, keyFor(request));
    await pool.settled();
    const taken = ['s1', 's2', 's3'].map((session) => pool.take(keyFor(request).full, session));
    const given = taken.filter((member): member is FakeMember => member !== undefined);
    expect(given).toHaveLength(1);
    expect(claims.claimant(given[0]!.id)).toBe('s1');
    await pool.settled();
    // The replacement is another sandbox.
    expect(pool.ready()).toEqual([keyFor(request).full]);
    expect(pool.take(keyFor(request).full, 's4')?.id).not.toBe(given[0]!.id);
  });

  it('never hands out a sandbox the store says another session claimed', async () => {
    const claims = new InMemorySandboxClaims();
    const { pool, made } = poolOf(1, { claims });
    const request = requestFor('acme/a');
    pool.want(request, keyFor(request));
    await pool.settled();
    // Claimed behind the pool's back (what the primary key of sandbox_claims guards against).
    expect(claims.claim(made[0]!.id, 'someone-else')).toBe(true);
    expect(pool.take(keyFor(request).full, 'me')).toBeUndefined();
    expect(claims.claimant(made[0]!.id)).toBe('someone-else');
  });

  it('gives nothing for another key: another repository, other limits', async () => {
    const { pool } = poolOf(1);
    const request = requestFor('acme/a');
    pool.want(request, keyFor(request));
    await pool.settled();
    expect(pool.take(keyFor(requestFor('acme/b')).full, 's1')).toBeUndefined();
    expect(pool.take(keyFor(requestFor('acme/a', 2)).full, 's1')).toBeUndefined();
    expect(pool.ready()).toHaveLength(1);
  });

  it('drains every sandbox of the old image or limits once a request has new ones', async () => {
    const { pool, made } = poolOf(2);
    const [a, b] = [requestFor('acme/a'), requestFor('acme/b')];
    pool.want(a, keyFor(a));
    pool.want(b, keyFor(b));
    await pool.settled();
    // The image was rebuilt: a request for a has a new shape, and b's old sandbox goes too.
    pool.want(a, keyFor(a, 'image-2'));
    await pool.settled();
    expect(pool.ready()).toEqual([keyFor(a, 'image-2').full, keyFor(a, 'image-2').full]);
    expect(made.filter((member) => member.destroyed)).toHaveLength(2);
    // Other limits drain the same way.
    const wider = requestFor('acme/a', 2);
    pool.want(wider, keyFor(wider, 'image-2'));
    await pool.settled();
    expect(new Set(pool.ready())).toEqual(new Set([keyFor(wider, 'image-2').full]));
  });

  it('drops a sandbox that stopped while it waited and makes another', async () => {
    const { pool, made } = poolOf(1);
    const request = requestFor('acme/a');
    pool.want(request, keyFor(request));
    await pool.settled();
    made[0]!.die();
    await waitUntil('a replacement', () => made.length === 2 && pool.ready().length === 1);
    expect(pool.take(keyFor(request).full, 's1')?.id).toBe(made[1]!.id);
  });

  it('stays empty while sandboxes cannot be made, and fills once they can', async () => {
    let dockerUp = false;
    const { pool } = poolOf(1, {
      make: async (key) => {
        if (!dockerUp) throw new Error('connect ENOENT /var/run/docker.sock');
        return new FakeMember(key.full);
      },
    });
    const request = requestFor('acme/a');
    pool.want(request, keyFor(request));
    await pool.settled();
    expect(pool.ready()).toEqual([]);
    expect(pool.take(keyFor(request).full, 's1')).toBeUndefined();
    dockerUp = true;
    await waitUntil('the retry to fill the pool', () => pool.ready().length === 1);
  });

  it('looks its keys up again when what a sandbox starts from changed while it was being made', async () => {
    let image = 'image-1';
    const made: FakeMember[] = [];
    const pool = new WarmPool<FakeMember>({
      size: 1,
      maxIdleMs: 60_000,
      keyOf: async (request) => keyFor(request, image),
      make: async (request, key) => {
        if (key.full !== keyFor(request, image).full) throw new WarmKeyChangedError();
        const member = new FakeMember(key.full);
        made.push(member);
        return member;
      },
      claims: new InMemorySandboxClaims(),
      retryDelaysMs: [10_000],
    });
    pools.push(pool);
    const request = requestFor('acme/a');
    image = 'image-2';
    pool.want(request, keyFor(request, 'image-1'));
    await waitUntil('the pool to follow the new key', () => pool.ready().length === 1);
    expect(pool.ready()).toEqual([keyFor(request, 'image-2').full]);
  });

  it('removes every ready sandbox when it closes, and makes none after', async () => {
    const { pool, made } = poolOf(2);
    const request = requestFor('acme/a');
    pool.want(request, keyFor(request));
    await pool.settled();
    await pool.close();
    expect(made.every((member) => member.destroyed)).toBe(true);
    pool.want(requestFor('acme/b'), keyFor(requestFor('acme/b')));
    await pool.settled();
    expect(made).toHaveLength(2);
  });

  it('keeps claims in the database: one claimant per sandbox, across connections, until released', () => {
    const dir = mkdtempSync(join(tmpdir(), 'telecoder-claims-'));
    dirs.push(dir);
    const file = join(dir, 'telecoder.db');
    const first = SqliteSandboxClaims.open({ file });
    const second = SqliteSandboxClaims.open({ file });
    try {
      expect(first.claim('container-1', 'session-a')).toBe(true);
      expect(second.claim('container-1', 'session-b')).toBe(false);
      expect(second.claimant('container-1')).toBe('session-a');
      expect(second.claim('container-2', 'session-b')).toBe(true);
      first.retainOnly(new Set(['container-2']));
      expect(second.claimant('container-1')).toBeUndefined();
      expect(first.claimant('container-2')).toBe('session-b');
      second.release('container-2');
      expect(first.claimant('container-2')).toBeUndefined();
    } finally {
      first.close();
      second.close();
    }
    // A sandbox that ends after the server closed its database changes nothing and throws nothing.
    expect(() => first.release('container-2')).not.toThrow();
    expect(first.claim('container-3', 'session-c')).toBe(false);
  });
});
