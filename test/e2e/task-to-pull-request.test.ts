import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import nock from 'nock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { git, makeBareRemote, makeRepo } from '../helpers/git-fixtures.js';
import { setupGitHubMock } from '../helpers/github-mock.js';
import { readSse } from '../helpers/read-sse.js';
import { ensureTestImage } from '../helpers/sandbox-image.js';
import { startScriptedLLM } from '../helpers/scripted-llm-server.js';
import {
  CANARY_GITHUB_TOKEN,
  CANARY_LLM_KEY,
  startTestApp,
  waitForFinal,
  type StartedTestApp,
} from '../helpers/test-app.js';

const run = promisify(execFile);
const CLI = resolve('bin/telecoder.js');

/** The model's side of a small task: edit a file, add one, run it in the sandbox, finish. */
function healthEndpointScript() {
  return [
    { toolCalls: [{ name: 'edit_file', arguments: { path: 'README.md', old_string: '# Widgets', new_string: '# Widgets\n\nServes /health.' } }] },
    { toolCalls: [{ name: 'write_file', arguments: { path: 'src/health.mjs', content: "export const health = () => 'ok';\n" } }] },
    {
      toolCalls: [
        {
          name: 'run_command',
          arguments: { command: "node -e \"import('./src/health.mjs').then((m) => console.log('health says ' + m.health()))\"" },
        },
      ],
    },
    { toolCalls: [{ name: 'finish', arguments: { summary: 'Added a health helper and documented it.' } }] },
  ];
}

describe.each(['anthropic', 'openai'] as const)('a task becomes a pull request (%s wire format)', (provider) => {
  let image: string;
  let tmp: string;
  let started: StartedTestApp | undefined;
  let llm: Awaited<ReturnType<typeof startScriptedLLM>> | undefined;
  const github = setupGitHubMock();

  beforeAll(async () => {
    image = await ensureTestImage();
  }, 900_000);

  afterEach(async () => {
    await started?.stop();
    await llm?.close();
    started = undefined;
    llm = undefined;
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('POST /api/sessions → agent edits and runs in a container → pushed branch → PR → SSE → CLI prints the URL', async () => {
    tmp = mkdtempSync(join(tmpdir(), 'telecoder-e2e-'));
    const remotes = join(tmp, 'remotes');
    const bare = makeBareRemote(join(remotes, 'acme', 'widgets.git'), {
      'README.md': '# Widgets\n',
      'package.json': '{"name":"widgets","version":"1.0.0"}\n',
    });
    llm = await startScriptedLLM(healthEndpointScript());
    started = await startTestApp({ image, llmUrl: llm.url, provider, gitUrl: `file://${remotes}` });

    let prBody = '';
    github.scope
      .get('/repos/acme/widgets')
      .times(2)
      .reply(200, { default_branch: 'main', html_url: 'https://github.com/acme/widgets' })
      .post('/repos/acme/widgets/pulls', (body: { head: string; base: string; title: string; body: string }) => {
        prBody = body.body;
        return body.base === 'main' && body.head.startsWith('telecoder/') && body.title === 'telecoder: add a /health endpoint';
      })
      .reply(201, { html_url: 'https://github.com/acme/widgets/pull/42', number: 42 });

    // The CLI is the user's door: a real process talking HTTP to the server.
    const cli = await run(process.execPath, [CLI, 'run', 'add a /health endpoint', '--repo', 'acme/widgets', '--server', started.url], {
      timeout: 120_000,
    });
    expect(cli.stdout).toContain('PR ready: https://github.com/acme/widgets/pull/42');

    const [session] = started.app.store.listSessions();
    expect(session).toBeDefined();
    expect(session!.status).toBe('complete');
    expect(session!.prUrl).toBe('https://github.com/acme/widgets/pull/42');
    expect(session!.prNumber).toBe(42);
    expect(session!.usage.turns).toBe(4);
    expect(session!.model).toBe('scripted-model');

    // The commit is on telecoder/<id> of the remote, authored by TeleCoder, with the agent's work.
    const branch = `telecoder/${session!.id}`;
    expect(git(bare, 'log', '-1', '--format=%an <%ae>|%s', branch)).toBe(
      'TeleCoder <telecoder@users.noreply.github.com>|telecoder: add a /health endpoint',
    );
    expect(git(bare, 'show', `${branch}:src/health.mjs`)).toBe("export const health = () => 'ok';");
    expect(git(bare, 'show', `${branch}:README.md`)).toBe('# Widgets\n\nServes /health.');
    expect(git(bare, 'rev-parse', 'main')).toBe(git(bare, 'rev-parse', `${branch}~1`));

    // The command really ran in the sandbox: its output went back to the model.
    const lastRequest = JSON.stringify(llm.requests.at(-1)!.body);
    expect(lastRequest).toContain('health says ok');
    expect(llm.requests.every((request) => request.format === provider)).toBe(true);

    expect(prBody).toContain(session!.id);
    expect(prBody).toContain('add a /health endpoint');
    expect(prBody).toContain('Added a health helper and documented it.');
    expect(prBody).toMatch(/tokens/);

    // SSE replays the stored history in order and ends with done.
    const events = await readSse(`${started.url}/api/sessions/${session!.id}/events`);
    const types = events.map((event) => event.event);
    expect(types[0]).toBe('status');
    expect(types.at(-1)).toBe('done');
    const statuses = events.filter((event) => event.event === 'status').map((event) => JSON.parse(event.data).data);
    expect(statuses).toEqual(['pending', 'running', 'complete']);
    const tools = events.filter((event) => event.event === 'tool').map((event) => JSON.parse(event.data).data.name);
    expect(tools).toEqual(['edit_file', 'write_file', 'run_command', 'finish']);
    const ids = events.map((event) => Number(event.id));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(types.indexOf('result')).toBeLessThan(types.lastIndexOf('status'));

    // No container outlives the session.
    const left = execFileSync('docker', ['ps', '-aq', '--filter', `label=telecoder.session=${session!.id}`], { encoding: 'utf8' });
    expect(left.trim()).toBe('');
  });

  it('local mode: --repo ./path leaves the work on telecoder/<id> of that repository, with no GitHub at all', async () => {
    tmp = mkdtempSync(join(tmpdir(), 'telecoder-e2e-local-'));
    const repo = makeRepo(join(tmp, 'project'), { 'README.md': '# Widgets\n' }, 'trunk');
    llm = await startScriptedLLM(healthEndpointScript());
    started = await startTestApp({ image, llmUrl: llm.url, provider });

    const cli = await run(process.execPath, [CLI, 'run', 'add a /health endpoint', '--repo', './project', '--server', started.url], {
      cwd: tmp,
      timeout: 120_000,
    });
    const [session] = started.app.store.listSessions();
    expect(session!.repo).toBe(repo);
    expect(session!.status).toBe('complete');
    expect(session!.result?.type).toBe('branch');
    expect(cli.stdout).toContain(`telecoder/${session!.id}`);
    expect(git(repo, 'show', `telecoder/${session!.id}:src/health.mjs`)).toBe("export const health = () => 'ok';");
    // The user's checkout is untouched: still on its branch, with a clean tree.
    expect(git(repo, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe('trunk');
    expect(git(repo, 'status', '--porcelain')).toBe('');
  });

  it('secrets: the GitHub token and the LLM key never reach the container, its files, its processes or any stored event', async () => {
    tmp = mkdtempSync(join(tmpdir(), 'telecoder-e2e-secrets-'));
    const repo = makeRepo(join(tmp, 'project'), { 'README.md': '# Widgets\n' });
    const inspected: string[] = [];
    // The probe names each canary in two halves so that the command text itself never holds one.
    const half = (secret: string) => [secret.slice(0, 8), secret.slice(8)];
    const [g1, g2] = half(CANARY_GITHUB_TOKEN);
    const [l1, l2] = half(CANARY_LLM_KEY);
    const probe = [
      `A='${g1}'; B='${g2}'; C='${l1}'; D='${l2}'`,
      'env',
      "for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do tr '\\0' '\\n' < \"$f\"; done 2>/dev/null",
      'ps -eo args',
      'git -C /workspace config --list --show-origin',
      'grep -rIl -e "$A$B" -e "$C$D" / --exclude-dir=proc --exclude-dir=sys 2>/dev/null | head -20',
      'echo probe-finished',
    ].join('\n');
    llm = await startScriptedLLM([
      () => {
        for (const id of execFileSync('docker', ['ps', '-q', '--filter', 'label=telecoder.managed=true'], { encoding: 'utf8' }).split('\n')) {
          if (id.trim()) inspected.push(execFileSync('docker', ['inspect', id.trim()], { encoding: 'utf8' }));
        }
        return { toolCalls: [{ name: 'run_command', arguments: { command: probe } }] };
      },
      { toolCalls: [{ name: 'finish', arguments: { summary: 'looked around' } }] },
    ]);
    started = await startTestApp({ image, llmUrl: llm.url, provider });
    const response = await fetch(`${started.url}/api/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ repo: repo, prompt: 'look around' }),
    });
    expect(response.status).toBe(201);
    const { id } = (await response.json()) as { id: string };
    const session = await waitForFinal(started.app, id);
    expect(session.status).toBe('complete');
    expect(session.result?.type).toBe('text');

    const toolOutput = JSON.stringify(llm.requests.at(-1)!.body);
    expect(toolOutput).toContain('probe-finished');
    expect(toolOutput).toContain('PATH=');
    expect(inspected.length).toBeGreaterThan(0);
    const everything = [toolOutput, ...inspected, JSON.stringify(started.app.store.listEvents(id)), JSON.stringify(session)].join('\n');
    expect(everything).not.toContain(CANARY_GITHUB_TOKEN);
    expect(everything).not.toContain(CANARY_LLM_KEY);
  });
});

afterAll(() => {
  nock.cleanAll();
});
