import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { resolve } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { refusalMessage } from '../../src/github/refusal-message.js';
import { example } from '../fixtures/github/index.js';
import { useGitHubAppServer } from '../helpers/github-app-server.js';
import { deliver, installationToken, TEST_INSTALLATION_ID } from '../helpers/github-app-webhooks.js';
import { setupGitHubMock } from '../helpers/github-mock.js';
import { waitForFinal } from '../helpers/test-app.js';

// GitHub's documented test vector (https://docs.github.com/webhooks/using-webhooks/validating-webhook-deliveries).
const SECRET = "It's a Secret to Everybody";
const VECTOR_BODY = 'Hello, World!';
const VECTOR_SIGNATURE = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';

const REPO = '/repos/Codertocat/Hello-World';

/** A real `issues.labeled` payload, labelled with the trigger label by `login`. */
function labeled(login: string, type = 'User') {
  const payload = example('issues', 'labeled');
  payload.label = { ...payload.label!, name: 'telecoder' };
  payload.sender = { ...payload.sender, login, type: type as 'User' };
  (payload as { installation?: { id: number; node_id: string } }).installation = { id: TEST_INSTALLATION_ID, node_id: 'MDIz' };
  return payload;
}

describe('GitHub webhooks: signatures, deliveries, actors and permissions', () => {
  const github = setupGitHubMock();
  const appServer = useGitHubAppServer({
    prefix: 'webhooks',
    secret: SECRET,
    script: Array.from({ length: 10 }, () => ({ toolCalls: [{ name: 'finish', arguments: { summary: 'nothing to change' } }] })),
  });
  let instance: string;

  beforeAll(() => {
    instance = createHash('sha256').update(resolve(appServer.started.dataDir)).digest('hex').slice(0, 12);
  });

  afterEach(async () => {
    // Sessions finish and their comments are final before the mocks of a test are checked.
    for (const session of appServer.app.store.listSessions()) await waitForFinal(appServer.app, session.id);
    await appServer.app.githubIdle();
  });

  const containers = () =>
    execFileSync('docker', ['ps', '-aq', '--filter', 'label=telecoder.managed=true', '--filter', `label=telecoder.instance=${instance}`], {
      encoding: 'utf8',
    }).trim();

  describe('signature and request checks', () => {
    it("accepts GitHub's test vector (the body is not an event, so it is refused as such, never as unsigned)", async () => {
      const answer = await deliver(appServer.url, { event: 'ping', body: VECTOR_BODY, secret: null, headers: { 'x-hub-signature-256': VECTOR_SIGNATURE } });
      expect([401, 403]).not.toContain(answer.status);
      expect(answer.status).toBeLessThan(500);
      expect(answer.text).not.toMatch(/signature/i);

      // The same body with one byte changed fails on the signature.
      const changed = await deliver(appServer.url, { event: 'ping', body: 'Hello, World?', secret: null, headers: { 'x-hub-signature-256': VECTOR_SIGNATURE } });
      expect(changed.status).toBe(400);
      expect(changed.text).toMatch(/signature does not match/);
    });

    it.each([
      ['no signature', { secret: null }],
      ['the wrong secret', { secret: 'not the secret' }],
      ['a SHA-1 signature only', { secret: null, headers: { 'x-hub-signature': 'sha1=0123456789abcdef0123456789abcdef01234567' } }],
      ['a truncated signature', { secret: null, headers: { 'x-hub-signature-256': VECTOR_SIGNATURE.slice(0, 40) } }],
    ] as const)('refuses a delivery with %s: 4xx, nothing stored', async (_name, variant) => {
      const answer = await deliver(appServer.url, { event: 'issues', payload: labeled('Codertocat'), ...variant });
      expect(answer.status).toBeGreaterThanOrEqual(400);
      expect(answer.status).toBeLessThan(500);
      expect(appServer.app.store.listSessions()).toHaveLength(0);
    });

    it('refuses a body whose one byte was changed after signing', async () => {
      const body = JSON.stringify(labeled('Codertocat'));
      const { sign } = await import('@octokit/webhooks-methods');
      const signature = await sign(SECRET, body);
      const tampered = body.replace('"Codertocat"', '"Codertocas"');
      const answer = await deliver(appServer.url, { event: 'issues', body: tampered, secret: null, headers: { 'x-hub-signature-256': signature } });
      expect(answer.status).toBe(400);
      expect(appServer.app.store.listSessions()).toHaveLength(0);
    });

    it('answers 415 to a non-JSON content type and 400 to a missing delivery id', async () => {
      const form = await deliver(appServer.url, { event: 'issues', payload: labeled('Codertocat'), secret: SECRET, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      expect(form.status).toBe(415);
      const noId = await deliver(appServer.url, { event: 'issues', payload: labeled('Codertocat'), secret: SECRET, headers: { 'x-github-delivery': undefined } });
      expect(noId.status).toBe(400);
      expect(appServer.app.store.listSessions()).toHaveLength(0);
    });
    it('refuses a body over 25 MB (413) and one with no declared length (411) before reading it', async () => {
      const { hostname, port } = new URL(appServer.url);
      const answer = (headers: Record<string, string>, body?: string) =>
        new Promise<number>((resolve, reject) => {
          const req = httpRequest({ host: hostname, port, method: 'POST', path: '/api/github/webhooks', headers }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          });
          req.on('error', reject);
          // The oversized body is never sent: the answer must come from the headers alone.
          if (body !== undefined) req.end(body);
          else req.flushHeaders();
        });
      const common = { 'content-type': 'application/json', 'x-github-event': 'issues', 'x-github-delivery': 'big-1', 'x-hub-signature-256': 'sha256=00' };
      expect(await answer({ ...common, 'content-length': String(26 * 1024 * 1024) })).toBe(413);
      expect(await answer({ ...common, 'transfer-encoding': 'chunked' }, '{}')).toBe(411);
      expect(appServer.app.store.listSessions()).toHaveLength(0);
      expect((await fetch(`${appServer.url}/health`)).status).toBe(200);
    });
  });

  describe('who may trigger', () => {
    /** The repository has no .github/telecoder.yml, nor has its owner's .github repository. */
    function noRepoConfig(times = 1) {
      github.scope.get(/\/repos\/Codertocat\/(Hello-World|\.github)\/contents\/.*telecoder\.yml/).times(2 * times).reply(404, { message: 'Not Found' });
    }
    function tokens() {
      github.scope.post(`/app/installations/${TEST_INSTALLATION_ID}/access_tokens`).optionally().reply(201, installationToken()).persist();
    }

    it.each([
      ['triage', { permission: 'read', role_name: 'triage' }],
      ['read', { permission: 'read', role_name: 'read' }],
      ['none', { permission: 'none', role_name: 'none' }],
      ['a read-only organization member', { permission: 'read' }],
    ])('refuses %s with one comment, no session and no container', async (name, answer) => {
      const login = `person-${name.replace(/\W+/g, '-')}`;
      noRepoConfig();
      tokens();
      const comments: string[] = [];
      github.scope
        .get(`${REPO}/collaborators/${login}/permission`)
        .reply(200, { ...answer, user: { login } })
        .post(`${REPO}/issues/1/comments`, (body: { body: string }) => (comments.push(body.body), true))
        .reply(201, { id: 5001 });
      const response = await deliver(appServer.url, { event: 'issues', payload: labeled(login), secret: SECRET });
      expect(response.status).toBe(200);
      // The refusal is written after the answer, so a burst of deliveries is answered at once.
      await appServer.app.githubIdle();
      expect(comments).toEqual([refusalMessage(login)]);
      expect(appServer.app.store.listSessions()).toHaveLength(0);
      expect(containers()).toBe('');
    });

    it.each([
      ['a [bot] account', 'dependabot[bot]', 'User'],
      ['another App', 'some-app', 'Bot'],
    ])('ignores %s silently: no API call at all', async (_name, login, type) => {
      const response = await deliver(appServer.url, { event: 'issues', payload: labeled(login, type), secret: SECRET });
      expect(response.status).toBe(200);
      // Handled from the inbox after the answer.
      await appServer.app.githubIdle();
      expect(appServer.app.store.listSessions()).toHaveLength(0);
      expect(containers()).toBe('');
    });

    it("ignores the app's own comment, even one that looks like a command: no API call at all", async () => {
      const payload = example('issue_comment', 'created');
      payload.comment.body = '/telecoder do it again';
      payload.sender = { ...payload.sender, login: 'telecoder[bot]', type: 'Bot' };
      (payload as { installation?: { id: number; node_id: string } }).installation = { id: TEST_INSTALLATION_ID, node_id: 'MDIz' };
      const response = await deliver(appServer.url, { event: 'issue_comment', payload, secret: SECRET });
      expect(response.status).toBe(200);
      await appServer.app.githubIdle();
      expect(appServer.app.store.listSessions()).toHaveLength(0);
    });

    it('leaves a line comment of a multi-comment review to the review event: no session, no answer', async () => {
      const payload = example('pull_request_review_comment', 'created', 1);
      payload.pull_request = { ...payload.pull_request, state: 'open', head: { ...payload.pull_request.head, ref: 'telecoder/x', repo: payload.pull_request.base.repo } };
      payload.comment = { ...payload.comment, pull_request_review_id: 555 };
      (payload as { installation?: { id: number; node_id: string } }).installation = { id: TEST_INSTALLATION_ID, node_id: 'MDIz' };
      const pr = payload.pull_request.number;
      tokens();
      github.scope
        .get(`${REPO}/pulls/${pr}/reviews/555`)
        .reply(200, { id: 555, state: 'COMMENTED', body: '' })
        .get(`${REPO}/pulls/${pr}/reviews/555/comments`)
        .query(true)
        .reply(200, [{ id: 1 }, { id: 2 }]);
      const response = await deliver(appServer.url, { event: 'pull_request_review_comment', payload, secret: SECRET });
      expect(response.status).toBe(200);
      await appServer.app.githubIdle();
      expect(appServer.app.store.listSessions()).toHaveLength(0);
    });

    /** Everything an accepted issue task asks of GitHub, for `sessions` sessions of one test. */
    function acceptedTaskMocks(trackingCommentId: number) {
      tokens();
      const tracking: string[] = [];
      const edits: string[] = [];
      github.scope
        .post(`${REPO}/issues/1/reactions`, { content: 'eyes' })
        .reply(201, { id: 1, content: 'eyes' })
        .persist()
        .post(`${REPO}/issues/1/comments`, (body: { body: string }) => (tracking.push(body.body), true))
        .reply(201, { id: trackingCommentId })
        .persist()
        .get(`${REPO}/issues/1/comments`)
        .query(true)
        .reply(200, [])
        .persist()
        // The session itself: the provider looks up the installation and the repository.
        .get(`${REPO}/installation`)
        .optionally()
        .reply(200, { id: TEST_INSTALLATION_ID })
        .persist()
        .get(REPO)
        .reply(200, { default_branch: 'main', html_url: 'https://github.com/Codertocat/Hello-World' })
        .persist()
        .patch(`${REPO}/issues/comments/${trackingCommentId}`, (body: { body: string }) => (edits.push(body.body), true))
        .reply(200, { id: trackingCommentId })
        .persist();
      return { tracking, edits };
    }

    it.each([
      ['admin', { permission: 'admin', role_name: 'admin' }],
      ['maintain', { permission: 'write', role_name: 'maintain' }],
      ['write', { permission: 'write', role_name: 'write' }],
    ])('starts a session for %s', async (name, answer) => {
      const login = `person-${name}`;
      noRepoConfig();
      const { tracking, edits } = acceptedTaskMocks(7000);
      github.scope.get(`${REPO}/collaborators/${login}/permission`).reply(200, { ...answer, user: { login } });
      const before = appServer.app.store.listSessions().length;
      const response = await deliver(appServer.url, { event: 'issues', payload: labeled(login), secret: SECRET });
      expect(response.status).toBe(200);
      // The session is created from the inbox, after the answer.
      await appServer.app.githubIdle();
      const sessions = appServer.app.store.listSessions();
      expect(sessions).toHaveLength(before + 1);
      expect(sessions[0]!.origin).toMatchObject({ kind: 'github', requestedBy: login, number: 1 });
      expect(sessions[0]!.options).toMatchObject({ issueNumber: 1 });
      const done = await waitForFinal(appServer.app, sessions[0]!.id);
      expect(done).toMatchObject({ status: 'complete', result: { type: 'text' } });
      await appServer.app.githubIdle();
      // One tracking comment, created by the reporter and remembered with the session.
      expect(tracking).toHaveLength(1);
      expect(tracking[0]).toMatch(/Queued|Working/);
      expect(appServer.app.store.getSession(done.id)!.origin).toMatchObject({ trackingCommentId: 7000 });
      expect(edits.at(-1)).toContain(`TeleCoder session \`${done.id}\` changed nothing and answered`);
    });

    it("applies the repository's .github/telecoder.yml to the session it starts", async () => {
      const login = 'person-configured';
      const yaml = [
        'triggerLabel: telecoder',
        'draft: true',
        'maxRevisions: 3',
        'setupCommands: [npm ci]',
        'testCommands: [npm test]',
        'instructions: Keep it small.',
        'allowWorkflowChanges: true',
      ].join('\n');
      github.scope.get(/\/repos\/Codertocat\/Hello-World\/contents\/.*telecoder\.yml/).reply(200, yaml);
      acceptedTaskMocks(7200);
      github.scope.get(`${REPO}/collaborators/${login}/permission`).reply(200, { permission: 'write', role_name: 'write', user: { login } });
      const response = await deliver(appServer.url, { event: 'issues', payload: labeled(login), secret: SECRET });
      expect(response.status).toBe(200);
      await appServer.app.githubIdle();
      const [session] = appServer.app.store.listSessions();
      expect(session!.options).toMatchObject({
        issueNumber: 1,
        draft: true,
        maxRevisions: 3,
        setupCommands: ['npm ci'],
        testCommands: ['npm test'],
        instructions: 'Keep it small.',
        allowWorkflowChanges: true,
      });
      await waitForFinal(appServer.app, session!.id);
      await appServer.app.githubIdle();
    });

    it('creates exactly one session when the same delivery arrives five times at once', async () => {
      // The inbox stores the delivery once, so it is handled (and the configuration read) once.
      noRepoConfig(1);
      acceptedTaskMocks(7100);
      github.scope.get(`${REPO}/collaborators/person-dup/permission`).reply(200, { permission: 'admin', role_name: 'admin', user: { login: 'person-dup' } });
      const before = appServer.app.store.listSessions().length;
      const payload = labeled('person-dup');
      const answers = await Promise.all(
        Array.from({ length: 5 }, () => deliver(appServer.url, { event: 'issues', payload, id: 'the-same-delivery', secret: SECRET })),
      );
      for (const answer of answers) expect(answer.status).toBe(200);
      await appServer.app.githubIdle();
      expect(appServer.app.store.listSessions()).toHaveLength(before + 1);
      // Sent again later, once it was handled: still one session.
      expect((await deliver(appServer.url, { event: 'issues', payload, id: 'the-same-delivery', secret: SECRET })).status).toBe(200);
      await appServer.app.githubIdle();
      expect(appServer.app.store.listSessions()).toHaveLength(before + 1);
    });
  });
});
