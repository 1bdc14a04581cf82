import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Octokit } from '@octokit/rest';
import { afterEach, describe, expect, it } from 'vitest';
import { InMemoryEventBus } from '../../src/events/in-memory-event-bus.js';
import type { GitHubApi } from '../../src/github/app/github-api.js';
import { TrackingCommentReporter } from '../../src/github/app/tracking-comment-reporter.js';
import { createLogger } from '../../src/logger.js';
import { SqliteSessionStore } from '../../src/store/sqlite/sqlite-session-store.js';
import { setupGitHubMock } from '../helpers/github-mock.js';

describe('the tracking comment links to the session\'s dashboard page', () => {
  const github = setupGitHubMock();
  const cleanups: Array<() => void> = [];

  afterEach(() => {
    for (const cleanup of cleanups.splice(0)) cleanup();
  });

  /** A reporter over a real store and bus, its comment edits sent to mocked GitHub; resolves the bodies written. */
  async function finalComment(publicUrl: string | undefined): Promise<string> {
    const dir = mkdtempSync(join(tmpdir(), 'telecoder-comment-link-'));
    const store = SqliteSessionStore.open({ file: join(dir, 'db.sqlite') });
    const bus = new InMemoryEventBus();
    const reporter = new TrackingCommentReporter({
      bus,
      sessions: { get: (id) => store.getSession(id)! },
      auth: async () => new Octokit({ auth: 'ghs_test' }) as unknown as GitHubApi,
      logger: createLogger('silent'),
      minIntervalMs: 0,
      saveOrigin: (id, origin) => store.updateSession(id, { origin }),
      publicUrl,
    });
    reporter.start();
    cleanups.push(() => {
      reporter.stop();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    });
    store.createSession({
      id: 'c0ffee01',
      repo: 'acme/widgets',
      prompt: 'add a rate limiter',
      mode: 'task',
      branch: 'telecoder/c0ffee01',
      agent: 'builtin',
      model: null,
      origin: { kind: 'github', requestedBy: 'alice', installationId: 1, owner: 'acme', repo: 'widgets', number: 5, trackingCommentId: 99 },
    });
    const bodies: string[] = [];
    github.scope
      .patch('/repos/acme/widgets/issues/comments/99', (body: { body: string }) => (bodies.push(body.body), true))
      .reply(200, { id: 99 })
      .persist();
    store.updateSession('c0ffee01', { status: 'error', error: 'the tests failed' });
    bus.publish(store.appendEvent('c0ffee01', 'status', 'error'));
    await reporter.idle();
    return bodies.at(-1) ?? '';
  }

  it('with TELECODER_PUBLIC_URL set (a trailing slash is fine)', async () => {
    const body = await finalComment('https://telecoder.example.com/');
    expect(body).toMatch(/^❌ Failed/);
    expect(body).toContain('[Open the session in TeleCoder](https://telecoder.example.com/sessions/c0ffee01)');
  });

  it('and has no link without it', async () => {
    const body = await finalComment(undefined);
    expect(body).toMatch(/^❌ Failed/);
    expect(body).not.toContain('/sessions/');
  });
});
