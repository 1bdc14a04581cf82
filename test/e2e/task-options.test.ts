import { symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DuplicateDeliveryError } from '../../src/errors.js';
import { useAppHarness } from '../helpers/app-harness.js';
import { git, makeRepo } from '../helpers/git-fixtures.js';
import { setupGitHubMock } from '../helpers/github-mock.js';
import { waitForFinal } from '../helpers/test-app.js';

const writeAndFinish = (path: string, content: string) => [
  { toolCalls: [{ name: 'write_file', arguments: { path, content } }] },
  { toolCalls: [{ name: 'finish', arguments: { summary: `wrote ${path}` } }] },
];

describe('task options: revisions, issue links, drafts, project instructions, deliveries', () => {
  const github = setupGitHubMock();
  const harness = useAppHarness('options');

  function remoteWithPullRequestBranch() {
    const { bare, gitUrl } = harness.remote({ 'README.md': '# Widgets\n' });
    // A pull request branch with one commit of its own on top of main.
    const work = `${bare}.work`;
    git(work, 'checkout', '-q', '-b', 'telecoder/feature1');
    writeFileSync(join(work, 'feature.txt'), 'first version\n');
    git(work, 'add', '-A');
    git(work, 'commit', '-q', '-m', 'feature');
    git(work, 'push', '-q', bare, 'telecoder/feature1');
    return { gitUrl, bare, headBefore: git(bare, 'rev-parse', 'telecoder/feature1') };
  }

  it('a revision lands as a fast-forward commit on the pull request head branch, and opens no new PR', async () => {
    const { gitUrl, bare, headBefore } = remoteWithPullRequestBranch();
    const started = await harness.start({
      script: [
        { toolCalls: [{ name: 'run_command', arguments: { command: 'cat feature.txt && git log --oneline | head -3' } }] },
        { toolCalls: [{ name: 'edit_file', arguments: { path: 'feature.txt', old_string: 'first version', new_string: 'second version' } }] },
        { toolCalls: [{ name: 'finish', arguments: { summary: 'addressed the review' } }] },
      ],
      provider: 'openai',
      gitUrl,
    });
    github.scope.get('/repos/acme/widgets').times(2).reply(200, { default_branch: 'main', html_url: 'https://github.com/acme/widgets' });

    const session = started.app.engine.submit({
      repo: 'acme/widgets',
      prompt: 'rename the version',
      options: { revision: { prNumber: 7, prUrl: 'https://github.com/acme/widgets/pull/7', headBranch: 'telecoder/feature1' } },
    });
    expect(session.branch).toBe('telecoder/feature1');
    const done = await waitForFinal(started.app, session.id);
    expect(done.error).toBeNull();
    expect(done.result).toMatchObject({ type: 'pr', prNumber: 7, prUrl: 'https://github.com/acme/widgets/pull/7' });

    // The agent saw the branch as it is, and the new commit sits right on top of it.
    expect(JSON.stringify(harness.llm.requests[1]!.body)).toContain('first version');
    expect(git(bare, 'rev-parse', 'telecoder/feature1~1')).toBe(headBefore);
    expect(git(bare, 'show', 'telecoder/feature1:feature.txt')).toBe('second version');
    expect(git(bare, 'log', '-1', '--format=%an', 'telecoder/feature1')).toBe('TeleCoder');
    // main is untouched and no other branch appeared.
    expect(git(bare, 'for-each-ref', '--format=%(refname:short)', 'refs/heads').split('\n').sort()).toEqual(['main', 'telecoder/feature1']);
  });

  it('an issue task opens a draft PR that says "Fixes #N", on the configured base branch', async () => {
    const { gitUrl } = remoteWithPullRequestBranch();
    const started = await harness.start({ script: writeAndFinish('fix.txt', 'fixed\n'), gitUrl });
    let sent: { base?: string; draft?: boolean; body?: string } = {};
    github.scope
      .get('/repos/acme/widgets')
      .times(2)
      .reply(200, { default_branch: 'main', html_url: 'https://github.com/acme/widgets' })
      .post('/repos/acme/widgets/pulls', (body: typeof sent) => ((sent = body), true))
      .reply(201, { html_url: 'https://github.com/acme/widgets/pull/8', number: 8 });

    const session = started.app.engine.submit({
      repo: 'acme/widgets',
      prompt: 'fix the bug in issue 12',
      options: { issueNumber: 12, draft: true, baseBranch: 'telecoder/feature1' },
    });
    const done = await waitForFinal(started.app, session.id);
    expect(done.error).toBeNull();
    expect(done.prNumber).toBe(8);
    expect(sent.base).toBe('telecoder/feature1');
    expect(sent.draft).toBe(true);
    expect(sent.body).toMatch(/^Fixes #12$/m);
  });

  it("gives the agent the repository's AGENTS.md, read from git, never through a symlink", async () => {
    const secret = join(harness.dir(), 'server-secret.txt');
    writeFileSync(secret, 'SERVER-ONLY-SECRET\n');
    const repo = harness.localRepo({ 'AGENTS.md': 'Always run `make check` before finishing.\n' });
    const linked = join(harness.dir(), 'linked');
    makeRepo(linked, { 'README.md': '# linked\n' });
    symlinkSync(secret, join(linked, 'AGENTS.md'));
    git(linked, 'add', '-A');
    git(linked, 'commit', '-q', '-m', 'symlinked AGENTS.md');

    const started = await harness.start({
      script: [
        { toolCalls: [{ name: 'finish', arguments: { summary: 'ok' } }] },
        { toolCalls: [{ name: 'finish', arguments: { summary: 'ok' } }] },
      ],
    });
    const llm = harness.llm;
    const first = started.app.engine.submit({ repo, prompt: 'look', options: { instructions: 'Prefer small commits.' } });
    await waitForFinal(started.app, first.id);
    const system = String(llm.requests[0]!.body.system);
    expect(system).toContain('Always run `make check` before finishing.');
    expect(system).toContain('from AGENTS.md');
    expect(system).toContain('Prefer small commits.');

    const second = started.app.engine.submit({ repo: linked, prompt: 'look' });
    await waitForFinal(started.app, second.id);
    expect(JSON.stringify(llm.requests[1]!.body)).not.toContain('SERVER-ONLY-SECRET');
  });

  it('the same delivery submitted five times at once creates exactly one session', async () => {
    const repo = harness.localRepo({ 'README.md': '# x\n' });
    const started = await harness.start({ script: [{ toolCalls: [{ name: 'finish', arguments: { summary: 'ok' } }] }] });
    const app = started.app;
    const outcomes = await Promise.allSettled(
      Array.from({ length: 5 }, async () => app.engine.submit({ repo, prompt: 'once', deliveryId: 'delivery-1' })),
    );
    const created = outcomes.filter((outcome) => outcome.status === 'fulfilled');
    const refused = outcomes.filter((outcome) => outcome.status === 'rejected');
    expect(created).toHaveLength(1);
    expect(refused).toHaveLength(4);
    for (const outcome of refused) expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(DuplicateDeliveryError);
    expect(app.store.listSessions()).toHaveLength(1);
    await waitForFinal(app, app.store.listSessions()[0]!.id);
  });
});
