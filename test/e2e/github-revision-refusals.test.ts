/**
 * "Pushes go only to telecoder/<id>, or to the head branch of the pull request being revised (in
 * the same repository, never a fork's), never to the default branch." Signed comment webhooks
 * that ask for a revision of a pull request from a fork, or of one whose head is the default
 * branch, start nothing: no session and no container, with the reason told in a comment when
 * the pull request has to be looked up to know (a `/telecoder` comment), and silence when the
 * event itself shows it (a line comment on a fork's pull request).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { example } from '../fixtures/github/index.js';
import { useGitHubAppServer } from '../helpers/github-app-server.js';
import { deliver, installationToken, TEST_INSTALLATION_ID } from '../helpers/github-app-webhooks.js';
import { setupGitHubMock } from '../helpers/github-mock.js';

const SECRET = 'revision-refusals-secret';
const REPO = '/repos/Codertocat/Hello-World';
const INSTALLATION = { id: TEST_INSTALLATION_ID, node_id: 'MDIz' };
const PR = 7;

describe('comment triggers on pull requests TeleCoder must not push to', () => {
  const github = setupGitHubMock();
  // Any model call at all would mean a session ran.
  const appServer = useGitHubAppServer({ prefix: 'revision-refusals', secret: SECRET, script: [] });

  afterEach(async () => {
    await appServer.app.githubIdle();
  });

  /** Nothing ran: no session stored, no sandbox of this server on the Docker engine, no model call. */
  async function expectNothingStarted() {
    expect(appServer.app.store.listSessions()).toHaveLength(0);
    expect(await appServer.app.runtime.listManaged()).toEqual([]);
    expect(appServer.llm.requests).toHaveLength(0);
  }

  /** Mocks up to the pull request lookup: a token, the commenter's write access, the PR as GitHub has it. */
  function lookupMocks(head: { ref: string; repo: string | null }, defaultBranch = 'main') {
    const refusals: string[] = [];
    github.scope
      // Minted once, then cached by the app for the next tests.
      .post(`/app/installations/${TEST_INSTALLATION_ID}/access_tokens`)
      .optionally()
      .reply(201, installationToken())
      .persist()
      .get(`${REPO}/collaborators/Codertocat/permission`)
      .reply(200, { permission: 'admin', role_name: 'admin', user: { login: 'Codertocat' } })
      .get(`${REPO}/pulls/${PR}`)
      .reply(200, {
        number: PR,
        html_url: `https://github.com/Codertocat/Hello-World/pull/${PR}`,
        state: 'open',
        head: { ref: head.ref, repo: head.repo === null ? null : { full_name: head.repo } },
        base: { ref: defaultBranch, repo: { full_name: 'Codertocat/Hello-World', default_branch: defaultBranch } },
      })
      .post(`${REPO}/issues/${PR}/comments`, (body: { body: string }) => (refusals.push(body.body), true))
      .reply(201, { id: 8001 });
    return refusals;
  }

  /** `/telecoder <instruction>` on pull request #7, as GitHub sends it. */
  function commandComment() {
    const payload = example('issue_comment', 'created');
    payload.issue = { ...payload.issue, number: PR, state: 'open', pull_request: { url: `https://api.github.com${REPO}/pulls/${PR}` } as never };
    payload.comment.body = '/telecoder rename the greeting';
    (payload as { installation?: typeof INSTALLATION }).installation = INSTALLATION;
    return payload;
  }

  it.each([
    ['a fork', { ref: 'telecoder/feature', repo: 'someone/Hello-World' }, /comes from the fork someone\/Hello-World.*can only push to branches of Codertocat\/Hello-World/],
    ['a deleted fork', { ref: 'feature', repo: null }, /comes from a deleted fork/],
    ['the default branch', { ref: 'main', repo: 'Codertocat/Hello-World' }, /comes from the default branch `main`, which TeleCoder never pushes to/],
  ])('`/telecoder` on a pull request whose head is %s: refused with the reason, nothing started', async (_name, head, reason) => {
    const refusals = lookupMocks(head);
    const answer = await deliver(appServer.url, { event: 'issue_comment', payload: commandComment(), secret: SECRET });
    expect(answer.status).toBe(200);
    await appServer.app.githubIdle();
    expect(refusals).toHaveLength(1);
    expect(refusals[0]).toMatch(/^🚫 /);
    expect(refusals[0]).toMatch(reason);
    await expectNothingStarted();
  });

  it('a line comment on a pull request from a fork (even on a telecoder/ branch) is ignored: no API call, nothing started', async () => {
    const payload = example('pull_request_review_comment', 'created', 1);
    const fork = { ...payload.pull_request.base.repo, id: payload.pull_request.base.repo.id + 1, full_name: 'someone/Hello-World' };
    payload.pull_request = { ...payload.pull_request, number: PR, state: 'open', head: { ...payload.pull_request.head, ref: 'telecoder/feature', repo: fork } };
    payload.comment = { ...payload.comment, body: 'Rename the greeting', pull_request_review_id: 555 };
    (payload as { installation?: typeof INSTALLATION }).installation = INSTALLATION;
    // No mock at all: any request to GitHub would fail the test as unmatched.
    const answer = await deliver(appServer.url, { event: 'pull_request_review_comment', payload, secret: SECRET });
    expect(answer.status).toBe(200);
    await appServer.app.githubIdle();
    await expectNothingStarted();
  });

  it("a line comment on a pull request whose head is the repository's default branch: refused with the reason, nothing started", async () => {
    // A repository whose default branch looks like TeleCoder's own: only GitHub's answer tells.
    const defaultBranch = 'telecoder/trunk';
    const payload = example('pull_request_review_comment', 'created', 1);
    payload.pull_request = {
      ...payload.pull_request,
      number: PR,
      state: 'open',
      head: { ...payload.pull_request.head, ref: defaultBranch, repo: payload.pull_request.base.repo },
    };
    payload.comment = { ...payload.comment, id: 654, body: 'Rename the greeting', pull_request_review_id: 556, in_reply_to_id: undefined as never };
    (payload as { installation?: typeof INSTALLATION }).installation = INSTALLATION;
    const refusals = lookupMocks({ ref: defaultBranch, repo: 'Codertocat/Hello-World' }, defaultBranch);
    // The line comment stands alone (a single-comment review), so it is the one that would act.
    github.scope
      .get(`${REPO}/pulls/${PR}/reviews/556`)
      .reply(200, { id: 556, state: 'COMMENTED', body: '' })
      .get(`${REPO}/pulls/${PR}/reviews/556/comments`)
      .query(true)
      .reply(200, [{ id: 654 }]);
    const answer = await deliver(appServer.url, { event: 'pull_request_review_comment', payload, secret: SECRET });
    expect(answer.status).toBe(200);
    await appServer.app.githubIdle();
    expect(refusals).toEqual([`🚫 Pull request #${PR} comes from the default branch \`${defaultBranch}\`, which TeleCoder never pushes to.`]);
    await expectNothingStarted();
  });
});
