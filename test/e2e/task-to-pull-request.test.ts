import { execFile, execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import nock from 'nock';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { useAppHarness } from '../helpers/app-harness.js';
import { git } from '../helpers/git-fixtures.js';
import { setupGitHubMock } from '../helpers/github-mock.js';
import { readSse } from '../helpers/read-sse.js';
import { type ScriptStep } from '../helpers/scripted-llm-server.js';
import { CANARY_GITHUB_TOKEN, CANARY_LLM_KEY, waitForFinal } from '../helpers/test-app.js';

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

/** The tool results a request sends the model, in either wire format. */
function toolResults(body: { messages?: Array<{ role: string; content: unknown }> }): string[] {
  const texts: string[] = [];
  for (const message of body.messages ?? []) {
    if (message.role === 'tool' && typeof message.content === 'string') texts.push(message.content);
    if (!Array.isArray(message.content)) continue;
    for (const block of message.content as Array<{ type?: string; content?: unknown }>) {
      if (block.type !== 'tool_result') continue;
      if (typeof block.content === 'string') texts.push(block.content);
      else if (Array.isArray(block.content)) texts.push(...block.content.map((part: { text?: string }) => part.text ?? ''));
    }
  }
  return texts;
}

describe.each(['anthropic', 'openai'] as const)('a task becomes a pull request (%s wire format)', (provider) => {
  const github = setupGitHubMock();
  const harness = useAppHarness('e2e');

  it('POST /api/sessions → agent edits and runs in a container → pushed branch → PR → SSE → CLI prints the URL', async () => {
    const { bare, gitUrl } = harness.remote({
      'README.md': '# Widgets\n',
      'package.json': '{"name":"widgets","version":"1.0.0"}\n',
    });
    const started = await harness.start({ script: healthEndpointScript(), provider, gitUrl });
    const llm = harness.llm;

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
    const repo = harness.localRepo({ 'README.md': '# Widgets\n' }, { branch: 'trunk' });
    const started = await harness.start({ script: healthEndpointScript(), provider });

    const cli = await run(process.execPath, [CLI, 'run', 'add a /health endpoint', '--repo', './project', '--server', started.url], {
      cwd: harness.dir(),
      timeout: 120_000,
    });
    const [session] = started.app.store.listSessions();
    expect(session!.repo).toBe(repo);
    expect(session!.status).toBe('complete');
    expect(session!.result?.type).toBe('branch');
    expect(cli.stdout).toContain(`telecoder/${session!.id}`);
    expect(git(repo, 'show', `telecoder/${session!.id}:src/health.mjs`)).toBe("export const health = () => 'ok';");
    // What was delivered is kept as a readable diff.
    const diff = await fetch(`${started.url}/api/sessions/${session!.id}/diff`);
    expect(diff.status).toBe(200);
    const diffText = await diff.text();
    expect(diffText).toContain('+++ b/src/health.mjs');
    expect(diffText).toContain("+export const health = () => 'ok';");
    const printed = await run(process.execPath, [CLI, 'diff', session!.id, '--server', started.url], { cwd: harness.dir(), timeout: 30_000 });
    expect(printed.stdout).toBe(diffText);
    // The user's checkout is untouched: still on its branch, with a clean tree.
    expect(git(repo, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe('trunk');
    expect(git(repo, 'status', '--porcelain')).toBe('');
  });

  it('secrets (token mode): the GitHub token authenticates the server\'s git and API, and neither it nor the LLM key reaches the sandbox, events, PR body or logs', async () => {
    // A private GitHub-style repository: the git host refuses any request without the token.
    const { bare, server: gitServer } = await harness.remoteOverHttp(
      { 'README.md': '# Widgets\n' },
      { basicAuth: { username: 'x-access-token', password: CANARY_GITHUB_TOKEN } },
    );
    const repoUrl = `${gitServer.url}/acme/widgets.git`;
    const anonymous = { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: '', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' };
    // Asynchronously: the git host answers from this very process.
    await expect(run('git', ['ls-remote', repoUrl], { env: anonymous, timeout: 30_000 })).rejects.toThrow(/401|Authentication|could not read Username/i);
    expect(gitServer.log().every((request) => request.status === 401)).toBe(true);
    gitServer.reset();

    // Every form the token could leak in: as it is, and as the basic credential git sends.
    const basic = Buffer.from(`x-access-token:${CANARY_GITHUB_TOKEN}`, 'utf8').toString('base64');
    const control = 'probe-CONTROL-value-4c1f9e0a7b';
    // The probe names each value in two halves so that the command text itself never holds one.
    const half = (value: string) => [value.slice(0, 8), value.slice(8)];
    const [g1, g2] = half(CANARY_GITHUB_TOKEN);
    const [l1, l2] = half(CANARY_LLM_KEY);
    const [b1, b2] = half(basic);
    const [c1, c2] = half(control);
    // Each place is searched for the secrets and for a control value planted there first, so a
    // search that cannot see what it searches (names instead of contents, an unreadable source)
    // fails the test instead of passing it.
    const probe = [
      `GH='${g1}''${g2}'; LLM='${l1}''${l2}'; BASIC='${b1}''${b2}'; CONTROL='${c1}''${c2}'`,
      'export PROBE_CONTROL="$CONTROL"',
      'printf "%s\\n" "$CONTROL" > /tmp/probe-control-file',
      'git -C /workspace config --local probe.control "$CONTROL"',
      '(exec -a "$CONTROL" sleep 120) & HOLDER=$!',
      'sleep 0.5',
      'scan() { name=$1; shift; out=$("$@" 2>/dev/null | tr "\\0" "\\n");',
      '  printf "scan %s secrets=%s control=%s\\n" "$name" "$(printf "%s\\n" "$out" | grep -cF -e "$GH" -e "$LLM" -e "$BASIC")" "$(printf "%s\\n" "$out" | grep -cF -e "$CONTROL")"; }',
      'scan env env',
      "scan environ sh -c 'cat /proc/[0-9]*/environ'",
      "scan cmdline sh -c 'cat /proc/[0-9]*/cmdline'",
      'scan ps ps -eo args',
      'scan gitconfig git -C /workspace config --list --show-origin',
      'files() { grep -rlaF -D skip "$@" / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev 2>/dev/null | tr "\\n" " "; }',
      'printf "files %s=[%s]\\n" secrets "$(files -e "$GH" -e "$LLM" -e "$BASIC")"',
      'printf "files %s=[%s]\\n" control "$(files -e "$CONTROL")"',
      'kill $HOLDER',
      'printf "probe-%s\\n" finished',
    ].join('\n');
    const inspected: string[] = [];
    const script: ScriptStep[] = [
      () => {
        const [session] = harness.app.store.listSessions();
        const ids = execFileSync('docker', ['ps', '-q', '--filter', `label=telecoder.session=${session!.id}`], { encoding: 'utf8' });
        for (const id of ids.split('\n').filter((line) => line.trim())) {
          inspected.push(execFileSync('docker', ['inspect', id.trim()], { encoding: 'utf8' }));
        }
        return { toolCalls: [{ name: 'run_command', arguments: { command: probe } }] };
      },
      { toolCalls: [{ name: 'write_file', arguments: { path: 'NOTES.md', content: 'looked around\n' } }] },
      { toolCalls: [{ name: 'finish', arguments: { summary: 'looked around' } }] },
    ];

    const logLines: string[] = [];
    const started = await harness.start({
      script,
      provider,
      gitUrl: gitServer.url,
      customize: (builder) => builder.withLogger(createLogger('trace', { write: (line: string) => void logLines.push(line) })),
    });
    const llm = harness.llm;
    let prBody = '';
    github.scope
      .get('/repos/acme/widgets')
      .matchHeader('authorization', `token ${CANARY_GITHUB_TOKEN}`)
      .times(2)
      .reply(200, { default_branch: 'main', html_url: 'https://github.com/acme/widgets' })
      .post('/repos/acme/widgets/pulls', (body: { body: string }) => ((prBody = body.body), true))
      .matchHeader('authorization', `token ${CANARY_GITHUB_TOKEN}`)
      .reply(201, { html_url: 'https://github.com/acme/widgets/pull/43', number: 43 });

    const response = await fetch(`${started.url}/api/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ repo: 'acme/widgets', prompt: 'look around' }),
    });
    expect(response.status).toBe(201);
    const { id } = (await response.json()) as { id: string };
    const session = await waitForFinal(started.app, id);
    expect(session.error).toBeNull();
    expect(session.status).toBe('complete');
    expect(session.prNumber).toBe(43);

    // The token was really used: the git host served the fetch and the push only because the
    // server's git sent it, and the LLM key is the one the model's server was called with.
    const served = gitServer.log();
    expect(served.some((request) => request.service === 'git-upload-pack' && request.status === 200)).toBe(true);
    expect(served.some((request) => request.service === 'git-receive-pack' && request.status === 200)).toBe(true);
    expect(served.every((request) => request.authorized === true)).toBe(true);
    expect(git(bare, 'show', `telecoder/${id}:NOTES.md`)).toBe('looked around');
    expect(JSON.stringify(llm.requests[0]!.headers)).toContain(CANARY_LLM_KEY);

    // The probe ran to its end, and every place it searched held its control value and no secret.
    // What the command printed, as the model was sent it (not the command's own text).
    const toolOutput = toolResults(llm.requests[1]!.body).join('\n');
    expect(toolOutput).toContain('probe-finished');
    for (const place of ['env', 'environ', 'cmdline', 'ps', 'gitconfig']) {
      const match = new RegExp(`scan ${place} secrets=(\\d+) control=(\\d+)`).exec(toolOutput);
      expect(match, place).not.toBeNull();
      expect(Number(match![2]), `control value found in ${place}`).toBeGreaterThan(0);
      expect(Number(match![1]), `secrets found in ${place}`).toBe(0);
    }
    expect(/files control=\[([^\]]*)\]/.exec(toolOutput)?.[1]).toContain('/tmp/probe-control-file');
    expect(/files secrets=\[([^\]]*)\]/.exec(toolOutput)?.[1]?.trim()).toBe('');

    // Nor anywhere else: the container's configuration, what the model was sent, the stored
    // events and session, the pull request's body, and everything the server logged.
    expect(inspected.length).toBeGreaterThan(0);
    expect(prBody).toContain(id);
    expect(logLines.length).toBeGreaterThan(0);
    const everything = [
      ...inspected,
      JSON.stringify(llm.requests.map((request) => request.body)),
      JSON.stringify(started.app.store.listEvents(id)),
      JSON.stringify(started.app.store.getSession(id)),
      prBody,
      ...logLines,
    ].join('\n');
    for (const secret of [CANARY_GITHUB_TOKEN, CANARY_LLM_KEY, basic]) expect(everything).not.toContain(secret);
  });
});

afterAll(() => {
  nock.cleanAll();
});
