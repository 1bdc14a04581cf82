import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { example } from '../fixtures/github/index.js';
import { git, makeBareRemote } from '../helpers/git-fixtures.js';
import { appEnv, appPrivateKey, deliver } from '../helpers/github-app-webhooks.js';
import { setupGitHubMock } from '../helpers/github-mock.js';
import { secondaryLimitGitHub } from '../helpers/secondary-limit-github.js';
import { ensureTestImage } from '../helpers/sandbox-image.js';
import { startScriptedLLM, type RecordedRequest, type ScriptedResponse } from '../helpers/scripted-llm-server.js';
import { startTestApp, waitForFinal, type StartedTestApp } from '../helpers/test-app.js';

const SECRET = 'write-rate-secret';
const SESSIONS = 50;
/**
 * GitHub's secondary limit is 80 content-creating requests a minute, and TeleCoder spaces its
 * writes 1 s apart. The test keeps that ratio at 1/30 of the time: 80 in any 2 s, writes 33 ms
 * apart. Each repository is its own installation, so nothing per installation keeps their
 * writes apart: only the process-wide queue does (with TELECODER_GITHUB_WRITE_INTERVAL=1ms, 10 of
 * the burst's writes were refused and their sessions waited out GitHub's 60 s).
 */
const WINDOW_MS = 2_000;
const WRITE_INTERVAL = '33ms';

/** The agent's turn: one file named after the repository, then finish. */
function agentTurn(request: RecordedRequest): ScriptedResponse {
  const sent = JSON.stringify(request.body);
  if (sent.includes('"role":"tool"')) return { toolCalls: [{ name: 'finish', arguments: { summary: 'added the note' } }] };
  const repo = /org(\d+)\/repo/.exec(sent)?.[1] ?? 'unknown';
  return { toolCalls: [{ name: 'write_file', arguments: { path: `note-${repo}.txt`, content: `repository ${repo}\n` } }] };
}

function labeledIssue(index: number) {
  const payload = example('issues', 'labeled');
  const owner = `org${index}`;
  payload.label = { ...payload.label!, name: 'telecoder' };
  payload.issue.number = 1;
  payload.issue.title = `Add a note to ${owner}/repo`;
  payload.issue.body = `Write note-${index}.txt for ${owner}/repo.`;
  payload.repository = { ...payload.repository, name: 'repo', full_name: `${owner}/repo`, owner: { ...payload.repository.owner, login: owner } };
  (payload as { installation?: { id: number; node_id: string } }).installation = { id: index, node_id: `inst-${index}` };
  return payload;
}

describe('50 queued sessions against GitHub with its secondary rate limits (RELIABILITY row 20)', () => {
  const github = setupGitHubMock();
  let tmp: string;
  let started: StartedTestApp | undefined;
  let llm: Awaited<ReturnType<typeof startScriptedLLM>> | undefined;
  let image: string;

  beforeAll(async () => {
    process.env.NO_SMEE_SETUP = 'true';
    image = await ensureTestImage();
    tmp = mkdtempSync(join(tmpdir(), 'telecoder-write-rate-'));
    const first = makeBareRemote(join(tmp, 'remotes', 'org1', 'repo.git'), { 'README.md': '# Repo\n' });
    for (let index = 2; index <= SESSIONS; index++) cpSync(first, join(tmp, 'remotes', `org${index}`, 'repo.git'), { recursive: true });
  }, 900_000);

  afterAll(async () => {
    await started?.stop();
    await llm?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('stays under 80 content-creating requests a window and 100 in flight, and every session still gets its PR and final comment', async () => {
    const limits = secondaryLimitGitHub(github.scope, { limit: 80, windowMs: WINDOW_MS, maxConcurrent: 100, writeLatencyMs: 20 });
    llm = await startScriptedLLM(Array.from({ length: SESSIONS * 2 }, () => agentTurn));
    started = await startTestApp({
      image,
      llmUrl: llm.url,
      provider: 'openai',
      gitUrl: `file://${join(tmp, 'remotes')}`,
      env: { ...appEnv(appPrivateKey(), SECRET), TELECODER_GITHUB_WRITE_INTERVAL: WRITE_INTERVAL, TELECODER_MAX_CONCURRENT: '4' },
    });

    // All 50 issues are labelled at once: their reactions and "queued" comments are the burst.
    const answers = await Promise.all(
      Array.from({ length: SESSIONS }, (_, i) => deliver(started!.url, { event: 'issues', payload: labeledIssue(i + 1), secret: SECRET })),
    );
    expect(answers.map((answer) => answer.status)).toEqual(Array(SESSIONS).fill(200));

    // The sessions are created from the webhook inbox, after the answers.
    await started.app.webhookInbox!.idle();
    const sessions = started.app.store.listSessions();
    expect(sessions).toHaveLength(SESSIONS);
    for (const session of sessions) expect((await waitForFinal(started.app, session.id, 300_000)).error).toBeNull();
    await started.app.githubIdle();

    expect(limits.refused).toEqual([]);
    expect(limits.peakPerWindow()).toBeLessThanOrEqual(80);
    expect(limits.peakConcurrent).toBeLessThanOrEqual(100);
    // Every session wrote: its 👀, its tracking comment (created, then edited to the end), its PR.
    expect(limits.pulls).toHaveLength(SESSIONS);
    expect(limits.writes.filter((write) => write.route.endsWith('/reactions'))).toHaveLength(SESSIONS);
    const finals = [...limits.comments.values()].filter((body) => body.includes('✅ PR ready'));
    expect(finals).toHaveLength(SESSIONS);
    for (let index = 1; index <= SESSIONS; index++) {
      const session = sessions.find((candidate) => candidate.repo === `org${index}/repo`)!;
      expect(git(join(tmp, 'remotes', `org${index}`, 'repo.git'), 'show', `telecoder/${session.id}:note-${index}.txt`)).toBe(`repository ${index}`);
    }
  }, 600_000);
});
