import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import nock from 'nock';
import { describe, expect, it } from 'vitest';
import { failedBeforeStartText } from '../../src/github/app/tracking-comment-text.js';
import { example } from '../fixtures/github/index.js';
import { useAppHarness } from '../helpers/app-harness.js';
import { git, makeBareRemote } from '../helpers/git-fixtures.js';
import { appEnv, appPrivateKey, deliver, installationToken, TEST_INSTALLATION_ID } from '../helpers/github-app-webhooks.js';
import { setupGitHubMock } from '../helpers/github-mock.js';
import { waitForFinal } from '../helpers/test-app.js';
import type { TeleCoderBuilder } from '../../src/telecoder.js';

const SECRET = 'inbox-test-secret';
const REPO = '/repos/Codertocat/Hello-World';
const INSTALLATION = { id: TEST_INSTALLATION_ID, node_id: 'MDIz' };
const HEAD = 'telecoder/feature1';
const CONFIG_FILE = /\/repos\/Codertocat\/Hello-World\/contents\/\.github(%2F|\/)telecoder\.yml/;
const FINISH = { toolCalls: [{ name: 'finish', arguments: { summary: 'nothing to change' } }] };

/**
 * The webhook inbox: GitHub's answer waits only for the delivery to be stored; the gates and the
 * session come afterwards, survive a restart, retry failing GitHub reads, and the repository
 * configuration is revalidated instead of read again.
 */
describe('GitHub webhooks through the inbox', () => {
  const github = setupGitHubMock();
  const harness = useAppHarness('inbox');
  process.env.NO_SMEE_SETUP = 'true';
  let privateKey: string | undefined;

  /** Codertocat/Hello-World with main and a TeleCoder pull request branch; the app as a GitHub App. */
  async function start(options: { customize?: (builder: TeleCoderBuilder) => void; dataDir?: string } = {}) {
    const remotes = join(harness.dir(), 'remotes');
    const bare = join(remotes, 'Codertocat', 'Hello-World.git');
    if (!options.dataDir) {
      makeBareRemote(bare, { 'README.md': '# Hello\n' });
      const work = `${bare}.work`;
      git(work, 'checkout', '-q', '-b', HEAD);
      writeFileSync(join(work, 'feature.txt'), 'first version\n');
      git(work, 'add', '-A');
      git(work, 'commit', '-q', '-m', 'feature');
      git(work, 'push', '-q', bare, HEAD);
    }
    privateKey ??= appPrivateKey();
    return harness.start({
      script: Array.from({ length: 6 }, () => FINISH),
      gitUrl: `file://${remotes}`,
      env: appEnv(privateKey, SECRET),
      // Short retries: the waits themselves are not what is tested.
      customize: (builder) => {
        builder.withWebhookInbox({ retryDelaysMs: [20, 20] });
        options.customize?.(builder);
      },
      ...(options.dataDir ? { dataDir: options.dataDir } : {}),
    });
  }

  /**
   * The review a line comment belongs to cannot be read (404, for the first attempt and both
   * retries); the commenter has `permission`. Returns the comments posted in the thread: an outsider
   * (read) is never told, so for them a comment is only recorded, which the test then fails on.
   */
  function failingReviewMocks(permission: 'admin' | 'read'): string[] {
    tokens();
    const comments: string[] = [];
    const comment = github.scope
      .get(`${REPO}/pulls/7/reviews/555`)
      .times(3)
      .reply(404, { message: 'Not Found' })
      .get(`${REPO}/collaborators/Codertocat/permission`)
      .reply(200, { permission, role_name: permission, user: { login: 'Codertocat' } })
      .post(`${REPO}/issues/7/comments`, (body: { body: string }) => (comments.push(body.body), true));
    (permission === 'read' ? comment.optionally() : comment).reply(201, { id: 9004 });
    return comments;
  }

  /** A push of one commit to `ref` of the repository, adding or changing these files. */
  function push(ref: string, files: { added?: string[]; modified?: string[] }) {
    return {
      ref,
      before: '0'.repeat(40),
      after: '1'.repeat(40),
      forced: false,
      repository: { ...labeled().repository, default_branch: 'main' },
      commits: [{ id: '1'.repeat(40), added: files.added ?? [], removed: [], modified: files.modified ?? [] }],
      installation: INSTALLATION,
      sender: labeled().sender,
    };
  }

  function labeled(login = 'Codertocat') {
    const payload = example('issues', 'labeled');
    payload.label = { ...payload.label!, name: 'telecoder' };
    payload.sender = { ...payload.sender, login, type: 'User' };
    (payload as { installation?: typeof INSTALLATION }).installation = INSTALLATION;
    return payload;
  }

  function tokens() {
    github.scope.post(`/app/installations/${TEST_INSTALLATION_ID}/access_tokens`).reply(201, installationToken()).persist();
  }

  /** What an accepted issue task asks of GitHub besides the configuration (any number of sessions). */
  function issueTaskMocks(login = 'Codertocat') {
    tokens();
    github.scope
      .get(`${REPO}/collaborators/${login}/permission`)
      .reply(200, { permission: 'admin', role_name: 'admin', user: { login } })
      .persist()
      .post(`${REPO}/issues/1/reactions`, { content: 'eyes' })
      .reply(201, { id: 1, content: 'eyes' })
      .persist()
      .get(`${REPO}/issues/1/comments`)
      .query(true)
      .reply(200, [])
      .persist()
      .post(`${REPO}/issues/1/comments`)
      .reply(201, { id: 7000 })
      .persist()
      .patch(`${REPO}/issues/comments/7000`)
      .reply(200, { id: 7000 })
      .persist()
      .get(`${REPO}/installation`)
      .optionally()
      .reply(200, { id: TEST_INSTALLATION_ID })
      .persist()
      .get(REPO)
      .reply(200, { default_branch: 'main', html_url: 'https://github.com/Codertocat/Hello-World' })
      .persist();
  }

  function noRepoConfig(times = 1) {
    github.scope.get(/\/repos\/Codertocat\/(Hello-World|\.github)\/contents\/.*telecoder\.yml/).times(2 * times).reply(404, { message: 'Not Found' });
  }

  async function finishAll() {
    const app = harness.app;
    await app.githubIdle();
    for (const session of app.store.listSessions()) await waitForFinal(app, session.id);
    await app.githubIdle();
  }

  it('a delivery acknowledged before a crash is handled by the next start on the same data', async () => {
    const first = await start({ customize: (builder) => builder.withWebhookInbox({ paused: true }) });
    const answer = await deliver(first.url, { event: 'issues', payload: labeled(), secret: SECRET });
    expect(answer.status).toBe(200);
    // Stored, not handled: no GitHub call was made (no mock is defined yet) and no session exists.
    expect(first.app.webhookInbox!.waiting).toBe(1);
    expect(first.app.store.listSessions()).toHaveLength(0);
    const dataDir = first.dataDir;
    await harness.stop({ keepData: true });

    noRepoConfig();
    issueTaskMocks();
    const second = await start({ dataDir });
    await second.app.githubIdle();
    const sessions = second.app.store.listSessions();
    expect(sessions).toHaveLength(1);
    expect(sessions[0]!.origin).toMatchObject({ kind: 'github', requestedBy: 'Codertocat', number: 1 });
    await finishAll();
    // Handled once: a redelivery after the restart is recognised.
    expect((await deliver(second.url, { event: 'issues', payload: labeled(), id: answer.id, secret: SECRET })).status).toBe(200);
    await second.app.githubIdle();
    expect(second.app.store.listSessions()).toHaveLength(1);
  });

  it('a redelivery arriving while the first is still stored is handled once', async () => {
    const app = await start({ customize: (builder) => builder.withWebhookInbox({ paused: true }) });
    const payload = labeled();
    for (let i = 0; i < 3; i++) expect((await deliver(app.url, { event: 'issues', payload, id: 'delivery-once', secret: SECRET })).status).toBe(200);
    expect(app.app.webhookInbox!.waiting).toBe(1);
    noRepoConfig();
    issueTaskMocks();
    app.app.webhookInbox!.resume();
    await app.app.githubIdle();
    expect(app.app.store.listSessions()).toHaveLength(1);
    await finishAll();
  });

  /** A single line comment on pull request 7, the start of a revision once its review is read. */
  function lineComment() {
    const payload = example('pull_request_review_comment', 'created', 1);
    payload.pull_request = { ...payload.pull_request, number: 7, state: 'open', head: { ...payload.pull_request.head, ref: HEAD, repo: payload.pull_request.base.repo } };
    payload.comment = { ...payload.comment, id: 321, body: 'Call it the third version', pull_request_review_id: 555, in_reply_to_id: undefined as never };
    (payload as { installation?: typeof INSTALLATION }).installation = INSTALLATION;
    return payload;
  }

  it('a review read that fails (404) is retried after the answer, and the session starts when it succeeds', async () => {
    const app = await start();
    tokens();
    noRepoConfig();
    github.scope
      // The first read fails, as GitHub does for a review it has not yet made visible.
      .get(`${REPO}/pulls/7/reviews/555`)
      .reply(404, { message: 'Not Found' })
      .get(`${REPO}/pulls/7/reviews/555`)
      .reply(200, { id: 555, state: 'COMMENTED', body: '' })
      .get(`${REPO}/pulls/7/reviews/555/comments`)
      .query(true)
      .reply(200, [{ id: 321 }])
      .get(`${REPO}/collaborators/Codertocat/permission`)
      .reply(200, { permission: 'admin', role_name: 'admin', user: { login: 'Codertocat' } })
      .get(`${REPO}/pulls/7`)
      .matchHeader('accept', /\.diff/)
      .reply(200, 'diff --git a/feature.txt b/feature.txt\n+first version\n', { 'content-type': 'text/plain' })
      .get(`${REPO}/pulls/7`)
      .matchHeader('accept', /json/)
      .reply(200, {
        number: 7,
        html_url: 'https://github.com/Codertocat/Hello-World/pull/7',
        state: 'open',
        head: { ref: HEAD, repo: { full_name: 'Codertocat/Hello-World' } },
        base: { repo: { full_name: 'Codertocat/Hello-World', default_branch: 'main' } },
      })
      .post(`${REPO}/pulls/comments/321/reactions`, { content: 'eyes' })
      .reply(201, { id: 3 })
      .post(`${REPO}/issues/7/comments`)
      .reply(201, { id: 9003 });
    // persist() applies to a whole scope: these are on one of their own.
    github.scope
      .patch(`${REPO}/issues/comments/9003`)
      .reply(200, { id: 9003 })
      .persist()
      .get(`${REPO}/installation`)
      .optionally()
      .reply(200, { id: TEST_INSTALLATION_ID })
      .get(REPO)
      .optionally()
      .reply(200, { default_branch: 'main', html_url: 'https://github.com/Codertocat/Hello-World' })
      .persist()
      .post(`${REPO}/pulls/7/comments/321/replies`)
      .optionally()
      .reply(201, { id: 322 });
    const answer = await deliver(app.url, { event: 'pull_request_review_comment', payload: lineComment(), secret: SECRET });
    expect(answer.status).toBe(200);
    await app.app.githubIdle();
    const sessions = app.app.store.listSessions();
    expect(sessions).toHaveLength(1);
    expect(sessions[0]!.options).toMatchObject({ revision: { prNumber: 7, headBranch: HEAD } });
    await finishAll();
  });

  it('a review read that keeps failing is reported in the thread once, and the answer was still 2xx', async () => {
    const app = await start();
    // Only someone with write access is told.
    const comments = failingReviewMocks('admin');
    const answer = await deliver(app.url, { event: 'pull_request_review_comment', payload: lineComment(), secret: SECRET });
    expect(answer.status).toBe(200);
    await app.app.githubIdle();
    expect(comments).toHaveLength(1);
    expect(comments[0]).toContain(failedBeforeStartText('').trim());
    expect(comments[0]).toMatch(/Not Found/);
    expect(app.app.store.listSessions()).toHaveLength(0);
  });

  it("the same failure on an outsider's event posts nothing", async () => {
    const app = await start();
    const comments = failingReviewMocks('read');
    const answer = await deliver(app.url, { event: 'pull_request_review_comment', payload: lineComment(), secret: SECRET });
    expect(answer.status).toBe(200);
    await app.app.githubIdle();
    expect(comments).toEqual([]);
    expect(app.app.store.listSessions()).toHaveLength(0);
  });

  it('remembers that a repository has no configuration, until a push adds it', async () => {
    const app = await start({ customize: (builder) => builder.withWebhookInbox({ missingConfigMs: 60_000 }) });
    issueTaskMocks();
    // One read of each file: a second read would find no mock, which fails the test.
    noRepoConfig();
    await deliver(app.url, { event: 'issues', payload: labeled(), secret: SECRET });
    await app.app.githubIdle();
    await deliver(app.url, { event: 'issues', payload: labeled(), secret: SECRET });
    await app.app.githubIdle();
    expect(app.app.store.listSessions()).toHaveLength(2);

    const added = push('refs/heads/main', { added: ['.github/telecoder.yml'] });
    expect((await deliver(app.url, { event: 'push', payload: added, secret: SECRET })).status).toBe(200);
    github.scope.get(CONFIG_FILE).reply(200, 'draft: true\n', { etag: '"v1"', 'content-type': 'text/plain; charset=utf-8' });
    await deliver(app.url, { event: 'issues', payload: labeled(), secret: SECRET });
    await app.app.githubIdle();
    const sessions = app.app.store.listSessions();
    expect(sessions).toHaveLength(3);
    expect(sessions[0]!.options).toMatchObject({ draft: true });
    await finishAll();
  });

  it('reads the repository configuration once, revalidates it (304) while unchanged, and reads it again after a push that changes it', async () => {
    const app = await start();
    issueTaskMocks();
    const draft = 'draft: true\ninstructions: Keep it small.\n';
    // First read: in full, with its ETag.
    github.scope.get(CONFIG_FILE).reply(200, draft, { etag: '"v1"', 'content-type': 'text/plain; charset=utf-8' });
    await deliver(app.url, { event: 'issues', payload: labeled(), secret: SECRET });
    await app.app.githubIdle();
    // Second read: conditional, answered 304 (not counted against the rate limit); the cached file is used.
    github.scope.get(CONFIG_FILE).matchHeader('if-none-match', '"v1"').reply(304);
    await deliver(app.url, { event: 'issues', payload: labeled(), secret: SECRET });
    await app.app.githubIdle();
    let sessions = app.app.store.listSessions();
    expect(sessions).toHaveLength(2);
    for (const session of sessions) expect(session.options).toMatchObject({ draft: true, instructions: 'Keep it small.' });

    // A push elsewhere, or to another branch, keeps the cache; one to main that touches the file drops it.
    expect((await deliver(app.url, { event: 'push', payload: push('refs/heads/main', { modified: ['README.md'] }), secret: SECRET })).status).toBe(200);
    expect((await deliver(app.url, { event: 'push', payload: push('refs/heads/other', { modified: ['.github/telecoder.yml'] }), secret: SECRET })).status).toBe(200);
    github.scope.get(CONFIG_FILE).matchHeader('if-none-match', '"v1"').reply(304);
    await deliver(app.url, { event: 'issues', payload: labeled(), secret: SECRET });
    await app.app.githubIdle();

    expect((await deliver(app.url, { event: 'push', payload: push('refs/heads/main', { modified: ['.github/telecoder.yml'] }), secret: SECRET })).status).toBe(200);
    // A full read again: no If-None-Match.
    nock(github.baseUrl, { badheaders: ['if-none-match'] })
      .get(CONFIG_FILE)
      .reply(200, 'instructions: Now bigger.\n', { etag: '"v2"', 'content-type': 'text/plain; charset=utf-8' });
    await deliver(app.url, { event: 'issues', payload: labeled(), secret: SECRET });
    await app.app.githubIdle();
    sessions = app.app.store.listSessions();
    expect(sessions).toHaveLength(4);
    const latest = sessions[0]!;
    expect(latest.options).toMatchObject({ instructions: 'Now bigger.' });
    expect(latest.options).not.toHaveProperty('draft');
    await finishAll();
  });
});
