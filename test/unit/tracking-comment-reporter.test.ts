import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Octokit } from '@octokit/rest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InMemoryEventBus } from '../../src/events/in-memory-event-bus.js';
import type { GitHubApi } from '../../src/github/app/github-api.js';
import { TrackingCommentReporter } from '../../src/github/app/tracking-comment-reporter.js';
import { createLogger } from '../../src/logger.js';
import type { SessionEventType } from '../../src/model/session.js';
import { SqliteSessionStore } from '../../src/store/sqlite/sqlite-session-store.js';
import { setupGitHubMock } from '../helpers/github-mock.js';

describe('TrackingCommentReporter', () => {
  const github = setupGitHubMock();
  let dir: string;
  let store: SqliteSessionStore;
  let bus: InMemoryEventBus;
  let reporter: TrackingCommentReporter;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'telecoder-reporter-'));
    store = SqliteSessionStore.open({ file: join(dir, 'db.sqlite') });
    bus = new InMemoryEventBus();
    const octokit = new Octokit({ auth: 'ghs_test' }) as unknown as GitHubApi;
    reporter = new TrackingCommentReporter({
      bus,
      sessions: { get: (id) => store.getSession(id)! },
      auth: async () => octokit,
      logger: createLogger('silent'),
      minIntervalMs: 0,
      saveOrigin: (id, origin) => store.updateSession(id, { origin }),
    });
    reporter.start();
  });

  afterEach(() => {
    reporter.stop();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function emit(id: string, type: SessionEventType, data: unknown) {
    bus.publish(store.appendEvent(id, type, data));
  }

  function newSession(trackingCommentId?: number) {
    return store.createSession({
      id: 's1',
      repo: 'acme/widgets',
      prompt: 'add a rate limiter',
      mode: 'task',
      branch: 'telecoder/s1',
      agent: 'builtin',
      model: null,
      origin: { kind: 'github', requestedBy: 'alice', installationId: 1, owner: 'acme', repo: 'widgets', number: 5, ...(trackingCommentId ? { trackingCommentId } : {}) },
    });
  }

  it('shows the pipeline step and stage while working: "Step 2/3: … — verifying"', async () => {
    newSession(99);
    const bodies: string[] = [];
    github.scope
      .patch('/repos/acme/widgets/issues/comments/99', (body: { body: string }) => (bodies.push(body.body), true))
      .reply(200, { id: 99 })
      .persist();
    store.updateSession('s1', { status: 'running' });
    emit('s1', 'status', 'running');
    await reporter.idle();
    emit('s1', 'progress', { step: 2, total: 3, title: 'add the rate limiter', status: 'verifying' });
    await reporter.idle();
    expect(bodies.at(-1)).toContain('Now: Step 2/3: add the rate limiter — verifying');
    emit('s1', 'tool', { name: 'run_command', arguments: { command: 'npm test' } });
    await reporter.idle();
    expect(bodies.at(-1)).toMatch(/Now: Step 2\/3: add the rate limiter — verifying, .*npm test/);
  });

  it('creates the tracking comment once, on the first event, and remembers it with the session', async () => {
    newSession();
    const created: string[] = [];
    const edits: string[] = [];
    github.scope
      .post('/repos/acme/widgets/issues/5/comments', (body: { body: string }) => (created.push(body.body), true))
      .reply(201, { id: 1234 })
      .patch('/repos/acme/widgets/issues/comments/1234', (body: { body: string }) => (edits.push(body.body), true))
      .reply(200, { id: 1234 })
      .persist();
    emit('s1', 'status', 'pending');
    store.updateSession('s1', { status: 'complete', result: { type: 'text', content: 'It is fine.' } });
    emit('s1', 'done', { status: 'complete' });
    await reporter.idle();
    expect(created).toHaveLength(1);
    expect(store.getSession('s1')!.origin).toMatchObject({ trackingCommentId: 1234 });
    expect(edits.at(-1)).toContain('changed nothing and answered');
  });
});
