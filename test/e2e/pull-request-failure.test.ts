/**
 * "Success is reported only after the push and the PR were confirmed": when GitHub refuses the
 * pull request after the branch was pushed, the session is not complete. It ends as an error
 * that gives GitHub's reason and says the branch is pushed, so nobody redoes the work.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { useAppHarness } from '../helpers/app-harness.js';
import { git } from '../helpers/git-fixtures.js';
import { setupGitHubMock } from '../helpers/github-mock.js';
import { waitForFinal } from '../helpers/test-app.js';

describe('a pull request that cannot be opened after the push', () => {
  const github = setupGitHubMock();
  const harness = useAppHarness('pr-failure');

  it('ends the session as error with GitHub\'s reason, saying the branch was pushed; never complete', async () => {
    const { bare, gitUrl } = harness.remote({ 'README.md': '# Widgets\n' });
    const started = await harness.start({
      script: [
        { toolCalls: [{ name: 'write_file', arguments: { path: 'health.txt', content: 'ok\n' } }] },
        { toolCalls: [{ name: 'finish', arguments: { summary: 'added health.txt' } }] },
      ],
      gitUrl,
    });
    let prRequests = 0;
    github.scope
      .get('/repos/acme/widgets')
      .times(2)
      .reply(200, { default_branch: 'main', html_url: 'https://github.com/acme/widgets' })
      .post('/repos/acme/widgets/pulls', () => (prRequests++, true))
      .reply(422, {
        message: 'Validation Failed',
        errors: [{ resource: 'PullRequest', code: 'custom', message: 'A pull request already exists for acme:main.' }],
        documentation_url: 'https://docs.github.com/rest/pulls/pulls#create-a-pull-request',
      });

    const response = await fetch(`${started.url}/api/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ repo: 'acme/widgets', prompt: 'add a health file' }),
    });
    expect(response.status).toBe(201);
    const { id } = (await response.json()) as { id: string };
    const session = await waitForFinal(started.app, id);
    const branch = `telecoder/${id}`;

    // The push happened before the pull request was asked for: the work is on the remote.
    expect(git(bare, 'show', `${branch}:health.txt`)).toBe('ok');
    expect(prRequests).toBe(1);

    expect(session.status).toBe('error');
    expect(session.prUrl).toBeNull();
    expect(session.prNumber).toBeNull();
    expect(session.error).toContain('A pull request already exists for acme:main.');
    expect(session.error).toMatch(/422/);
    expect(session.error).toContain(`${branch} was pushed`);

    // The API and the event stream say the same; no result claims a pull request.
    const shown = (await (await fetch(`${started.url}/api/sessions/${id}`)).json()) as { status: string; error: string; pr_url: unknown };
    expect(shown).toMatchObject({ status: 'error', error: session.error, pr_url: null });
    const events = started.app.store.listEvents(id);
    expect(events.some((event) => event.type === 'status' && event.data === 'complete')).toBe(false);
    expect(events.some((event) => event.type === 'result' && (event.data as { type?: string }).type === 'pr')).toBe(false);
    expect(events.at(-1)).toMatchObject({ type: 'done', data: { status: 'error', error: session.error } });
    expect(execFileSync('docker', ['ps', '-aq', '--filter', `label=telecoder.session=${id}`], { encoding: 'utf8' }).trim()).toBe('');
  });
});
