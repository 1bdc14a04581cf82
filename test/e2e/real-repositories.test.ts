import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { describe, expect, it } from 'vitest';
import type { SessionEvent } from '../../src/model/session.js';
import { git, makeBareRemote } from '../helpers/git-fixtures.js';
import { startGitHttpServer } from '../helpers/git-http-server.js';
import { usePipelineHarness } from '../helpers/pipeline-harness.js';
import { finish, stageRouter, textOf, write } from '../helpers/stage-router.js';
import { waitForFinal } from '../helpers/test-app.js';

// A real registry package, pinned by a real lockfile: `npm ci` in the sandbox fetches it from
// the npm registry (the only registry containers reach here) through TeleCoder's egress proxy under
// the default policy, or, the second time, from the cache.
const IS_NUMBER_LOCK = {
  name: 'calc',
  version: '1.0.0',
  lockfileVersion: 3,
  requires: true,
  packages: {
    '': { name: 'calc', version: '1.0.0', dependencies: { 'is-number': '7.0.0' } },
    'node_modules/is-number': {
      version: '7.0.0',
      resolved: 'https://registry.npmjs.org/is-number/-/is-number-7.0.0.tgz',
      integrity: 'sha512-41Cifkg6e8TylSpdtTpeLVMqvSBEVzTttHvERD741+pnZ8ANv0004MRL43QKPDlK9cGvNp6NZWZUBlbGXYxxng==',
      license: 'MIT',
      engines: { node: '>=0.12.0' },
    },
  },
};

/** A Node project whose test needs its registry dependency; no .gitignore, so nothing hides node_modules. */
function calcProject(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    'package.json': JSON.stringify(
      { name: 'calc', version: '1.0.0', type: 'module', scripts: { test: 'node --test' }, dependencies: { 'is-number': '7.0.0' } },
      null,
      2,
    ),
    'package-lock.json': JSON.stringify(IS_NUMBER_LOCK, null, 2),
    'calc.mjs': "import isNumber from 'is-number';\nexport const double = (x) => {\n  if (!isNumber(x)) throw new TypeError('not a number');\n  return x * 2;\n};\n",
    'test/double.test.mjs': "import test from 'node:test';\nimport assert from 'node:assert';\nimport { double } from '../calc.mjs';\ntest('double', () => assert.strictEqual(double(2), 4));\n",
    ...overrides,
  };
}

const TRIPLE = {
  'calc.mjs':
    "import isNumber from 'is-number';\nexport const double = (x) => {\n  if (!isNumber(x)) throw new TypeError('not a number');\n  return x * 2;\n};\nexport const triple = (x) => (isNumber(x) ? x * 3 : NaN);\n",
  'test/triple.test.mjs': "import test from 'node:test';\nimport assert from 'node:assert';\nimport { triple } from '../calc.mjs';\ntest('triple', () => assert.strictEqual(triple(2), 6));\n",
};

type SetupData = { status: string; durationMs?: number; commands: Array<{ command: string; passed?: boolean }> };

const ofType = (events: SessionEvent[], type: string) => events.filter((event) => event.type === type);
const setupEvents = (events: SessionEvent[]) => ofType(events, 'setup').map((event) => event.data as SetupData);
const outputs = (events: SessionEvent[]) => ofType(events, 'output').map((event) => String(event.data));

describe('real repositories: dependencies installed, caches reused, outcomes that never hide the work', () => {
  const { start, localRepo, remote, capturePullRequest, restart, dir, onCleanup } = usePipelineHarness('realrepo');

  it('installs a Node project in setup, its test passes in verify, and node_modules never reaches the commit', async () => {
    const repo = localRepo(calcProject());
    const router = stageRouter({
      agent: [
        { toolCalls: [{ name: 'run_command', arguments: { command: 'node -e "console.log(\'IS-NUMBER-SAYS\', require(\'is-number\')(5))"' } }] },
        write('calc.mjs', TRIPLE['calc.mjs']),
        write('test/triple.test.mjs', TRIPLE['test/triple.test.mjs']),
        finish('added triple'),
      ],
    });
    const app = await start(router, { env: { TELECODER_EGRESS: 'registries' } });
    const session = app.engine.submit({ repo, prompt: 'add triple(x)' });
    const done = await waitForFinal(app, session.id, 240_000);
    expect(done.error).toBeNull();
    expect(done.status).toBe('complete');
    expect(done.result?.type).toBe('branch');
    expect(done.result?.warning).toBeUndefined();

    const events = app.store.listEvents(session.id);
    const setup = setupEvents(events);
    expect(setup.map((data) => data.status)).toEqual(['running', 'passed']);
    expect(setup[1]!.commands[0]!.command).toBe('npm ci --prefer-offline --no-audit --no-fund');
    // Setup ran before the agent's first turn, and the agent's command found the installed package.
    const firstTool = events.findIndex((event) => event.type === 'tool');
    expect(events.findIndex((event) => event.type === 'setup' && (event.data as SetupData).status === 'passed')).toBeLessThan(firstTool);
    expect(textOf(router.requests('agent')[1]!)).toContain('IS-NUMBER-SAYS true');
    // Verify ran the project's test with its dependency installed, and it passed.
    expect(textOf(router.requests('review')[0]!)).toContain('1 passed, 0 failed');

    const branch = `telecoder/${session.id}`;
    const files = git(repo, 'ls-tree', '-r', '--name-only', branch).split('\n');
    expect(files).toContain('test/triple.test.mjs');
    expect(files.filter((file) => file.includes('node_modules'))).toEqual([]);
    expect(git(repo, 'diff', '--name-only', `main..${branch}`).split('\n').sort()).toEqual(['calc.mjs', 'test/triple.test.mjs']);
  });

  it('a second session on the repository fetches into its mirror instead of cloning, and installs from the cache', async () => {
    const remotes = join(dir(), 'remotes');
    // 300 KB of incompressible bytes make a first clone easy to tell from a fetch with nothing new.
    const ballast = execFileSync('head', ['-c', String(300 * 1024), '/dev/urandom']).toString('base64');
    makeBareRemote(join(remotes, 'acme', 'widgets.git'), calcProject({ 'fixtures/ballast.txt': ballast }));
    const gitServer = await startGitHttpServer({ root: remotes });
    onCleanup(() => gitServer.close());
    const gitUrl = gitServer.url;
    const router = stageRouter({
      agent: [write('one.txt', '1\n'), finish('one'), write('two.txt', '2\n'), finish('two'), write('three.txt', '3\n'), finish('three')],
    });
    const dataDir = join(dir(), 'data');
    mkdirSync(dataDir);

    capturePullRequest(51);
    let app = await start(router, { gitUrl, dataDir, env: { TELECODER_EGRESS: 'registries', TELECODER_STAGES: 'setup,code,verify' } });
    const first = await waitForFinal(app, app.engine.submit({ repo: 'acme/widgets', prompt: 'add one.txt' }).id, 240_000);
    expect(first.error).toBeNull();
    expect(setupEvents(app.store.listEvents(first.id)).at(-1)!.commands[0]).not.toHaveProperty('note');
    const firstClone = gitServer.stats().uploadPackBytes;
    expect(firstClone).toBeGreaterThan(300 * 1024);
    expect(outputs(app.store.listEvents(first.id)).some((line) => line.includes('into a new mirror'))).toBe(true);
    await restart();

    // A new commit upstream that leaves the lockfile alone: no snapshot of it exists yet.
    const work = `${join(remotes, 'acme', 'widgets.git')}.work`;
    writeFileSync(join(work, 'CHANGELOG.md'), 'next\n');
    git(work, 'add', '-A');
    git(work, 'commit', '-q', '-m', 'next');
    git(work, 'push', '-q', join(remotes, 'acme', 'widgets.git'), 'main');

    // The same server data, and now no network at all in the sandbox: `npm ci` can only succeed
    // if the repository's cache volume holds the package.
    gitServer.reset();
    capturePullRequest(52);
    app = await start(router, { gitUrl, dataDir, env: { TELECODER_EGRESS: 'none', TELECODER_STAGES: 'setup,code,verify' } });
    const second = await waitForFinal(app, app.engine.submit({ repo: 'acme/widgets', prompt: 'add two.txt' }).id, 240_000);
    expect(second.error).toBeNull();
    expect(second.prNumber).toBe(52);
    const events = app.store.listEvents(second.id);
    expect(outputs(events).some((line) => line.includes('into its mirror, only what changed'))).toBe(true);
    const fetched = gitServer.stats().uploadPackBytes;
    expect(fetched).toBeLessThan(firstClone / 20);
    expect(setupEvents(events).at(-1)).toMatchObject({
      status: 'passed',
      commands: [{ command: 'npm ci --prefer-offline --no-audit --no-fund', passed: true, note: "node_modules restored from the repository's dependency cache" }],
    });

    // A third session on that same commit starts from the snapshot the second one kept after its
    // setup: the dependencies are already installed, and its check still passes with no network.
    capturePullRequest(53);
    const third = await waitForFinal(app, app.engine.submit({ repo: 'acme/widgets', prompt: 'add three.txt' }).id, 240_000);
    expect(third.error).toBeNull();
    const thirdEvents = app.store.listEvents(third.id);
    expect(outputs(thirdEvents)).toContain("Sandbox ready from the repository's workspace snapshot; the agent is starting");
    expect(setupEvents(thirdEvents)).toEqual([
      {
        status: 'passed',
        durationMs: expect.any(Number),
        commands: [{ command: 'npm ci --prefer-offline --no-audit --no-fund', exitCode: 0, durationMs: 0, passed: true, note: 'installed in the workspace snapshot of this commit' }],
      },
    ]);
    expect(outputs(thirdEvents).some((line) => line.startsWith('✅ test'))).toBe(true);

    const caches = await app.engine.listCaches();
    expect(caches).toHaveLength(1);
    expect(caches[0]).toMatchObject({ repo: 'acme/widgets', mirror: { bytes: expect.any(Number) }, dependencies: { name: expect.stringMatching(/^telecoder-cache-/) } });
    const volume = await new Dockerode().getVolume(caches[0]!.dependencies!.name).inspect();
    expect(volume.Labels).toMatchObject({ 'telecoder.cache': 'true', 'telecoder.cache.repo': 'acme/widgets' });
  });

  it('the next session on the same commit starts from a clean workspace snapshot, never from what an agent left', async () => {
    const repo = localRepo({ 'README.md': '# Original readme\n', 'src/a.txt': 'a\n' });
    const router = stageRouter({
      agent: [
        write('POISON.txt', 'planted by the first agent\n'),
        write('README.md', '# Rewritten by the first agent\n'),
        finish('first'),
        { toolCalls: [{ name: 'run_command', arguments: { command: 'git rev-parse --abbrev-ref HEAD; ls; cat README.md; git status --porcelain' } }] },
        finish('second'),
      ],
    });
    const app = await start(router, { env: { TELECODER_STAGES: 'code', TELECODER_SNAPSHOT_MIN_FILES: '0' } });
    const first = await waitForFinal(app, app.engine.submit({ repo, prompt: 'first' }).id);
    expect(first.status).toBe('complete');
    expect(outputs(app.store.listEvents(first.id))).toContain('Sandbox ready; the agent is starting');
    await (app.runtime as unknown as { snapshotsIdle(): Promise<void> }).snapshotsIdle();

    const second = await waitForFinal(app, app.engine.submit({ repo, prompt: 'second' }).id);
    expect(second.status).toBe('complete');
    expect(outputs(app.store.listEvents(second.id))).toContain("Sandbox ready from the repository's workspace snapshot; the agent is starting");
    const seen = textOf(router.requests('agent')[4]!);
    expect(seen).toContain(`telecoder/${second.id}`);
    expect(seen).toContain('# Original readme');
    expect(seen).toContain('src');
    expect(seen).not.toContain('POISON');
    expect(seen).not.toContain('Rewritten');
    expect(second.result).toMatchObject({ type: 'text', content: 'second' });
  });

  it('failing checks give a draft PR that lists them and says which failed before the change', async () => {
    const project = {
      'package.json': JSON.stringify({ name: 'sum', type: 'module', scripts: { lint: 'node lint.mjs', test: 'node --test' } }, null, 2),
      'lint.mjs': "console.error('lint: LINT-PROBLEM-MARKER in old code');\nprocess.exit(1);\n",
      'sum.mjs': 'export const sum = (a, b) => a + b;\n',
      'test/sum.test.mjs': "import test from 'node:test';\nimport assert from 'node:assert';\nimport { sum } from '../sum.mjs';\ntest('sum adds', () => assert.strictEqual(sum(2, 3), 5));\n",
    };
    const { gitUrl, remotes } = remote(project);
    const router = stageRouter({
      agent: [{ toolCalls: [{ name: 'edit_file', arguments: { path: 'sum.mjs', old_string: 'a + b', new_string: 'a - b' } }] }, finish('rewrote sum')],
    });
    const pr = capturePullRequest(41);
    const app = await start(router, { gitUrl, env: { TELECODER_MAX_FIX_ATTEMPTS: '0' } });
    const session = app.engine.submit({ repo: 'acme/widgets', prompt: 'rewrite sum' });
    const done = await waitForFinal(app, session.id, 180_000);
    expect(done.error).toBeNull();
    expect(done.status).toBe('complete');
    expect(pr.draft).toBe(true);
    const body = pr.body ?? '';
    expect(body).toContain('## ⚠️ Draft: this change does not pass its checks');
    expect(body).toContain('- ❌ `npm test` — passing before this change: broken by it');
    expect(body).toContain('- ❌ `npm run lint` — already failing before this change');
    // Each failing check's output is cut into the body.
    expect(body).toContain('LINT-PROBLEM-MARKER');
    expect(body).toContain('sum adds');
    expect(done.result).toMatchObject({
      type: 'pr',
      draft: true,
      failingChecks: [
        { name: 'lint', command: 'npm run lint', before: 'failing' },
        { name: 'test', command: 'npm test', before: 'passing' },
      ],
    });
    expect(done.result?.content).toMatch(/^Pull request #41 is open as a draft, but `npm run lint` fails \(already failing before this change\); `npm test` fails \(passing before this change: broken by it\)\./);
    // Running the checks on the base put the work back exactly: the pushed change is the agent's.
    expect(git(join(remotes, 'acme', 'widgets.git'), 'show', `telecoder/${session.id}:sum.mjs`)).toBe('export const sum = (a, b) => a - b;');
  });

  it('work that failed and changed nothing ends as an error with the reason, not as a text answer', async () => {
    const repo = localRepo({
      'package.json': JSON.stringify({ name: 'sum', type: 'module', scripts: { test: 'node --test' } }),
      'sum.mjs': 'export const sum = (a, b) => a - b;\n',
      'test/sum.test.mjs': "import test from 'node:test';\nimport assert from 'node:assert';\nimport { sum } from '../sum.mjs';\ntest('sum adds', () => assert.strictEqual(sum(2, 3), 5));\n",
    });
    const router = stageRouter({ agent: [finish('I could not work out what to change.')] });
    const app = await start(router, { env: { TELECODER_MAX_FIX_ATTEMPTS: '0' } });
    const done = await waitForFinal(app, app.engine.submit({ repo, prompt: 'fix the sum bug' }).id, 120_000);
    expect(done.status).toBe('error');
    expect(done.error).toBe('the task produced no change to deliver: `npm test` fails (already failing before this change)');
    expect(done.result).toBeNull();
  });

  it('a broken lockfile is a reported setup failure: the agent is told, works on, and the PR says so', async () => {
    // Cut short mid-file, as a bad merge leaves it.
    const broken = JSON.stringify(IS_NUMBER_LOCK, null, 2).slice(0, 200);
    const { gitUrl } = remote(
      calcProject({
        'package-lock.json': broken,
        // The test does not need the dependency, so the checks pass without it.
        'test/double.test.mjs': "import test from 'node:test';\nimport assert from 'node:assert';\ntest('arith', () => assert.strictEqual(2 * 2, 4));\n",
      }),
    );
    const router = stageRouter({ agent: [write('notes.txt', 'notes\n'), finish('wrote notes')] });
    const pr = capturePullRequest(43);
    const app = await start(router, { gitUrl, env: { TELECODER_EGRESS: 'none' } });
    const session = app.engine.submit({ repo: 'acme/widgets', prompt: 'write notes' });
    const done = await waitForFinal(app, session.id, 180_000);
    expect(done.error).toBeNull();
    expect(done.status).toBe('complete');
    const setup = setupEvents(app.store.listEvents(session.id));
    expect(setup.map((data) => data.status)).toEqual(['running', 'failed']);
    // The agent ran, and was told what failed, with the output fenced as data.
    const agentText = textOf(router.requests('agent')[0]!);
    expect(agentText).toContain('Workspace setup');
    expect(agentText).toContain('npm ci --prefer-offline');
    expect(agentText).toContain('<untrusted_setup_output>');
    const body = pr.body ?? '';
    expect(body).toContain('## Setup');
    expect(body).toContain('⚠️ Installing the dependencies failed');
    expect(body).toContain('`notes.txt`');
    expect(pr.draft).toBeFalsy();
    expect(done.result?.warning).toBe('setup failed (`npm ci --prefer-offline --no-audit --no-fund`)');
  }, 180_000);

  it('a repository with no manifest gets no setup', async () => {
    const repo = localRepo({ 'README.md': '# Notes\n', 'main.c': 'int main(void) { return 0; }\n' });
    const router = stageRouter({ agent: [write('b.txt', 'b\n'), finish('done')] });
    const app = await start(router);
    const session = app.engine.submit({ repo, prompt: 'add b.txt' });
    const done = await waitForFinal(app, session.id);
    expect(done.status).toBe('complete');
    const events = app.store.listEvents(session.id);
    expect(setupEvents(events)).toEqual([{ status: 'skipped', durationMs: expect.any(Number), commands: [] }]);
    expect(outputs(events)).toContain('Setup: nothing to install (no lockfile or manifest found)');
  });

  it('a Python project gets its virtualenv from local wheels, and its checks and the agent run inside it', async () => {
    const repo = localRepo({
      'requirements.txt': '--no-index\n--find-links wheels\ntinylib==1.0\n',
      Makefile: "test:\n\tpython -c \"import sys, tinylib; assert sys.prefix == '/workspace/.venv', sys.prefix; assert tinylib.VALUE == 42\"\n",
      'README.md': '# py\n',
    });
    buildWheel(join(repo, 'wheels'));
    git(repo, 'add', '-A');
    git(repo, 'commit', '-q', '-m', 'wheels');
    const router = stageRouter({
      agent: [
        { toolCalls: [{ name: 'run_command', arguments: { command: 'python -c "import sys, tinylib; print(sys.executable, tinylib.VALUE)"' } }] },
        write('notes.txt', 'ok\n'),
        finish('checked the venv'),
      ],
    });
    const app = await start(router);
    const session = app.engine.submit({ repo, prompt: 'check the environment' });
    const done = await waitForFinal(app, session.id, 180_000);
    expect(done.error).toBeNull();
    const setup = setupEvents(app.store.listEvents(session.id));
    expect(setup.at(-1)).toMatchObject({ status: 'passed', commands: [{ command: 'python3 -m venv .venv && .venv/bin/python -m pip install -r requirements.txt' }] });
    // The agent's own command ran with the virtualenv active.
    expect(textOf(router.requests('agent')[1]!)).toContain('/workspace/.venv/bin/python 42');
    // The check asserts it runs inside the virtualenv; it passed.
    expect(textOf(router.requests('review')[0]!)).toContain('1 passed, 0 failed');
    const files = git(repo, 'ls-tree', '-r', '--name-only', `telecoder/${session.id}`).split('\n');
    expect(files.filter((file) => file.startsWith('.venv'))).toEqual([]);
    expect(git(repo, 'diff', '--name-only', `main..telecoder/${session.id}`)).toBe('notes.txt');
  });
});

/** A pure-Python wheel made by hand (there is no package index here): tinylib 1.0, VALUE = 42. */
function buildWheel(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const script = `
import base64, hashlib, sys, zipfile
files = {
  'tinylib/__init__.py': b'VALUE = 42\\n',
  'tinylib-1.0.dist-info/METADATA': b'Metadata-Version: 2.1\\nName: tinylib\\nVersion: 1.0\\n',
  'tinylib-1.0.dist-info/WHEEL': b'Wheel-Version: 1.0\\nGenerator: telecoder-test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n',
}
record = []
for name, data in files.items():
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()
    record.append(f'{name},sha256={digest},{len(data)}')
record.append('tinylib-1.0.dist-info/RECORD,,')
files['tinylib-1.0.dist-info/RECORD'] = ('\\n'.join(record) + '\\n').encode()
with zipfile.ZipFile(sys.argv[1], 'w') as wheel:
    for name, data in files.items():
        wheel.writestr(name, data)
`;
  execFileSync('python3', ['-c', script, join(dir, 'tinylib-1.0-py3-none-any.whl')]);
}
