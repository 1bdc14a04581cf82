import { randomUUID } from 'node:crypto';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { detectChecks, resolveChecks, type PlannedCheck } from '../../src/pipeline/detect-checks.js';
import { formatCheckResults, runChecks, type CheckResult } from '../../src/pipeline/run-checks.js';
import { DockerRuntime } from '../../src/sandbox/docker/docker-runtime.js';
import type { Sandbox } from '../../src/sandbox/runtime.js';
import { SANDBOX_CONTEXT_DIR, TEST_BASE_IMAGE, ensureTestImage } from '../helpers/sandbox-image.js';

const docker = new Dockerode();
const instance = `pipeline-checks-test-${randomUUID().slice(0, 8)}`;
const MiB = 1024 * 1024;
const TIMEOUT = { timeoutMsPerCheck: 30_000 };

let sandbox: Sandbox;

/** Replaces the workspace with exactly these files. */
async function repo(files: Record<string, string>): Promise<void> {
  const wiped = await sandbox.exec(['find', sandbox.workspace, '-mindepth', '1', '-delete'], { timeoutMs: 20_000 });
  expect(wiped.exitCode, wiped.stderr).toBe(0);
  for (const [path, content] of Object.entries(files)) await sandbox.writeFile(`${sandbox.workspace}/${path}`, content);
}

function packageJson(scripts: Record<string, string>, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ name: 'fixture', version: '1.0.0', scripts, ...extra }, null, 2);
}

function commands(checks: readonly { command: string }[]): string[] {
  return checks.map((check) => check.command);
}

function only<T>(items: readonly T[]): T {
  expect(items).toHaveLength(1);
  return items[0] as T;
}

const PASSING_NODE_TEST = `import test from 'node:test';
import assert from 'node:assert';
test('adds numbers', () => assert.strictEqual(1 + 1, 2));
`;
const FAILING_NODE_TEST = `import test from 'node:test';
import assert from 'node:assert';
test('widget count is right', () => assert.strictEqual(40 + 1, 42));
`;

beforeAll(async () => {
  const image = await ensureTestImage();
  const runtime = new DockerRuntime({ image, baseImage: TEST_BASE_IMAGE, contextDir: SANDBOX_CONTEXT_DIR, instanceLabel: instance });
  sandbox = await runtime.create({
    sessionId: `checks-${randomUUID().slice(0, 12)}`,
    network: 'none',
    limits: { memoryBytes: 512 * MiB, cpus: 1, pids: 256, wallClockMs: 15 * 60_000 },
  });
}, 600_000);

afterAll(async () => {
  await sandbox?.destroy();
  const leftovers = await docker.listContainers({ all: true, filters: { label: [`telecoder.instance=${instance}`] } });
  await Promise.all(leftovers.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  expect(leftovers).toEqual([]);
});

describe('detectChecks', () => {
  beforeEach(() => repo({}));

  it('finds nothing in an empty repository', async () => {
    await expect(detectChecks(sandbox)).resolves.toEqual([]);
  });

  it('reads package.json scripts, ordered typecheck, lint, test, build, with npm by default', async () => {
    await repo({
      'package.json': packageJson({ build: 'node build.js', test: 'node --test', start: 'node .', lint: 'node lint.js', typecheck: 'tsc --noEmit' }),
      'package-lock.json': '{}',
    });
    expect(await detectChecks(sandbox)).toEqual([
      { name: 'typecheck', kind: 'typecheck', command: 'npm run typecheck', source: 'package.json scripts.typecheck' },
      { name: 'lint', kind: 'lint', command: 'npm run lint', source: 'package.json scripts.lint' },
      { name: 'test', kind: 'test', command: 'npm test', source: 'package.json scripts.test' },
      { name: 'build', kind: 'build', command: 'npm run build', source: 'package.json scripts.build' },
    ]);
  });

  it("skips npm's placeholder test script", async () => {
    await repo({ 'package.json': packageJson({ test: 'echo "Error: no test specified" && exit 1' }) });
    expect(await detectChecks(sandbox)).toEqual([]);
  });

  it('picks the package manager from the lockfile', async () => {
    await repo({ 'package.json': packageJson({ test: 'vitest run', lint: 'eslint .' }), 'pnpm-lock.yaml': "lockfileVersion: '9.0'\n" });
    expect(commands(await detectChecks(sandbox))).toEqual(['pnpm run lint', 'pnpm test']);
    await repo({ 'package.json': packageJson({ test: 'jest' }), 'yarn.lock': '# yarn lockfile v1\n' });
    expect(commands(await detectChecks(sandbox))).toEqual(['yarn test']);
  });

  it('never throws on a malformed, oversized or odd package.json: no check', async () => {
    for (const content of ['{"scripts": {"test": "node --test"', 'null', '[]', '"text"', '{"scripts": ["node --test"]}', '\u0000\u00ff\u0001garbage']) {
      await repo({ 'package.json': content });
      expect(await detectChecks(sandbox), content).toEqual([]);
    }
    // Valid, but beyond the size limit.
    await repo({ 'package.json': packageJson({ test: 'node --test' }, { padding: 'x'.repeat(300 * 1024) }) });
    expect(await detectChecks(sandbox)).toEqual([]);
    // A directory where the manifest should be.
    await repo({ 'package.json/nested.txt': 'not a file' });
    expect(await detectChecks(sandbox)).toEqual([]);
    // A non-string script body is ignored, a good one next to it still counts.
    await repo({ 'package.json': '{"scripts": {"lint": 42, "test": "node --test", "__proto__": {"build": "x"}}}' });
    expect(commands(await detectChecks(sandbox))).toEqual(['npm test']);
  });

  it('detects pytest from pyproject.toml, setup.cfg, pytest.ini or test files, and ruff/flake8 from their config', async () => {
    await repo({ 'pyproject.toml': '[project]\nname = "demo"\n\n[tool.pytest.ini_options]\naddopts = "-q"\n\n[tool.ruff.lint]\nselect = ["E"]\n' });
    expect(await detectChecks(sandbox)).toEqual([
      { name: 'ruff', kind: 'lint', command: 'ruff check .', source: 'pyproject.toml [tool.ruff]' },
      { name: 'pytest', kind: 'test', command: 'python3 -m pytest -q', source: 'pyproject.toml [tool.pytest.ini_options]' },
    ]);

    await repo({ 'setup.cfg': '[metadata]\nname = demo\n\n[tool:pytest]\ntestpaths = tests\n\n[flake8]\nmax-line-length = 100\n' });
    expect(await detectChecks(sandbox)).toEqual([
      { name: 'flake8', kind: 'lint', command: 'python3 -m flake8', source: 'setup.cfg [flake8]' },
      { name: 'pytest', kind: 'test', command: 'python3 -m pytest -q', source: 'setup.cfg [tool:pytest]' },
    ]);

    await repo({ 'pytest.ini': '[pytest]\n' });
    expect(only(await detectChecks(sandbox)).source).toBe('pytest.ini');

    await repo({ 'tests/unit/test_math.py': 'def test_add():\n    assert 1 + 1 == 2\n', 'demo/__init__.py': '' });
    expect(only(await detectChecks(sandbox))).toMatchObject({ command: 'python3 -m pytest -q', source: 'test files (test_*.py)' });

    // A pyproject.toml that says nothing about pytest and no tests: nothing to run.
    await repo({ 'pyproject.toml': '[project]\nname = "demo"\n# [tool.pytest.ini_options] is not a header inside a comment\n' });
    expect(await detectChecks(sandbox)).toEqual([]);
  });

  it('detects go, cargo and make targets', async () => {
    await repo({ 'go.mod': 'module example.com/demo\n\ngo 1.22\n' });
    expect(await detectChecks(sandbox)).toEqual([
      { name: 'go vet', kind: 'lint', command: 'go vet ./...', source: 'go.mod' },
      { name: 'go test', kind: 'test', command: 'go test ./...', source: 'go.mod' },
    ]);
    await repo({ 'Cargo.toml': '[package]\nname = "demo"\n' });
    expect(commands(await detectChecks(sandbox))).toEqual(['cargo test']);

    await repo({ Makefile: 'VERSION := 1\ncheck := nothing\n.PHONY: build test\nbuild:\n\tcc main.c\n\ntest: build\n\t./run-tests\n' });
    expect(await detectChecks(sandbox)).toEqual([{ name: 'make test', kind: 'test', command: 'make test', source: 'Makefile target test' }]);
    await repo({ Makefile: 'all lint check: deps\n\t./check.sh\n' });
    expect(commands(await detectChecks(sandbox))).toEqual(['make check']);
    // Variable assignments and recipe lines are not targets.
    await repo({ Makefile: 'test := yes\ntest ?= no\nall:\n\ttest: not a target\n' });
    expect(await detectChecks(sandbox)).toEqual([]);
  });

  it('runs eslint directly only when there is an eslint config and no lint script', async () => {
    await repo({ 'eslint.config.js': 'export default [];\n', 'package.json': packageJson({ test: 'node --test' }) });
    expect(await detectChecks(sandbox)).toEqual([
      { name: 'eslint', kind: 'lint', command: 'npx --no-install --offline eslint .', source: 'eslint.config.js (no lint script)' },
      { name: 'test', kind: 'test', command: 'npm test', source: 'package.json scripts.test' },
    ]);
    await repo({ '.eslintrc.json': '{}', 'package.json': packageJson({ lint: 'eslint src' }) });
    expect(commands(await detectChecks(sandbox))).toEqual(['npm run lint']);
  });

  it('does not find the same check twice: a test script that is `make test` or `pytest`', async () => {
    await repo({ 'package.json': packageJson({ test: 'make test' }), Makefile: 'test:\n\t./run.sh\n' });
    expect(await detectChecks(sandbox)).toEqual([{ name: 'test', kind: 'test', command: 'npm test', source: 'package.json scripts.test' }]);

    await repo({ 'package.json': packageJson({ test: 'pytest' }), 'pytest.ini': '[pytest]\n' });
    expect(commands(await detectChecks(sandbox))).toEqual(['npm test']);

    await repo({ 'package.json': packageJson({ lint: 'ruff check .' }), 'ruff.toml': 'line-length = 100\n' });
    expect(commands(await detectChecks(sandbox))).toEqual(['npm run lint']);
  });

  it('caps the checks at six, keeping the cheap kinds first', async () => {
    await repo({
      'package.json': packageJson({ typecheck: 'tsc', lint: 'eslint .', test: 'node --test', build: 'tsc -b' }),
      'go.mod': 'module x\n',
      'Cargo.toml': '[package]\n',
      'pytest.ini': '[pytest]\n',
      Makefile: 'test:\n\ttrue\n',
    });
    const checks = await detectChecks(sandbox);
    expect(commands(checks)).toEqual(['npm run typecheck', 'npm run lint', 'go vet ./...', 'npm test', 'python3 -m pytest -q', 'go test ./...']);
  });

  it('rejects when aborted', async () => {
    await expect(detectChecks(sandbox, { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('resolveChecks', () => {
  const detected = [{ name: 'test', kind: 'test' as const, command: 'npm test', source: 'package.json scripts.test' }];

  it('keeps detection without an override, and puts setup commands first', () => {
    expect(resolveChecks(detected)).toEqual(detected);
    expect(resolveChecks(detected, { setupCommands: ['npm ci', '  '] })).toEqual([
      { name: 'npm ci', kind: 'setup', command: 'npm ci', source: 'repository configuration setupCommands[0]' },
      ...detected,
    ]);
  });

  it('replaces detection with configured test commands, even an empty list', () => {
    expect(resolveChecks(detected, { testCommands: ['./ci/test.sh --fast'] })).toEqual([
      { name: './ci/test.sh --fast', kind: 'test', command: './ci/test.sh --fast', source: 'repository configuration testCommands[0]' },
    ]);
    expect(resolveChecks(detected, { testCommands: [] })).toEqual([]);
    const long = `echo ${'x'.repeat(200)}\necho second line`;
    const [check] = resolveChecks([], { testCommands: [long] });
    expect(check?.command).toBe(long);
    expect(check?.name.length).toBeLessThanOrEqual(60);
    expect(check?.name).not.toContain('\n');
  });
});

describe('runChecks', () => {
  beforeEach(() => repo({}));

  it('runs a passing Node project and a failing one, reporting output and exit codes', async () => {
    await repo({ 'package.json': packageJson({ test: 'node --test', lint: 'node lint.js' }), 'test/math.test.mjs': PASSING_NODE_TEST, 'lint.js': 'console.log("lint clean")\n' });
    const seen: string[] = [];
    const results = await runChecks(sandbox, await detectChecks(sandbox), { ...TIMEOUT, onCheck: (result) => seen.push(result.name) });
    expect(seen).toEqual(['lint', 'test']);
    expect(results.map(({ name, passed, exitCode, timedOut }) => ({ name, passed, exitCode, timedOut }))).toEqual([
      { name: 'lint', passed: true, exitCode: 0, timedOut: false },
      { name: 'test', passed: true, exitCode: 0, timedOut: false },
    ]);
    expect(results[0]?.output).toContain('lint clean');
    expect(results[1]?.output).toMatch(/pass 1/);
    expect(results[1]?.durationMs).toBeGreaterThan(0);

    await sandbox.writeFile(`${sandbox.workspace}/test/math.test.mjs`, FAILING_NODE_TEST);
    const failed = only(await runChecks(sandbox, resolveChecks(await detectChecks(sandbox), { testCommands: ['npm test'] }), TIMEOUT));
    expect(failed).toMatchObject({ name: 'npm test', kind: 'test', passed: false, exitCode: 1, timedOut: false });
    expect(failed.missingTool).toBeUndefined();
    expect(failed.output).toContain('widget count is right');
  });

  it('flags a tool missing from the sandbox (pnpm without network, pytest, cargo, shellcheck, tsc, ruff, eslint) as missingTool, not a code failure', async () => {
    await repo({
      'package.json': packageJson({ typecheck: 'tsc --noEmit', test: 'node --test' }),
      'pnpm-lock.yaml': "lockfileVersion: '9.0'\n",
      'eslint.config.js': 'export default [];\n',
    });
    const node = await runChecks(sandbox, await detectChecks(sandbox), TIMEOUT);
    expect(node.map(({ command, missingTool, tool, note, passed }) => ({ command, missingTool, tool, note, passed }))).toEqual([
      { command: 'pnpm run typecheck', missingTool: true, tool: 'pnpm', note: 'pnpm is not installed in the sandbox', passed: false },
      { command: 'npx --no-install --offline eslint .', missingTool: true, tool: 'eslint', note: 'eslint is not installed in the sandbox', passed: false },
      { command: 'pnpm test', missingTool: true, tool: 'pnpm', note: 'pnpm is not installed in the sandbox', passed: false },
    ]);

    await repo({ 'package.json': packageJson({ typecheck: 'tsc --noEmit' }), 'package-lock.json': '{}' });
    expect(only(await runChecks(sandbox, await detectChecks(sandbox), TIMEOUT))).toMatchObject({
      command: 'npm run typecheck',
      missingTool: true,
      tool: 'tsc',
      exitCode: 127,
    });

    await repo({
      'pyproject.toml': '[tool.pytest.ini_options]\n[tool.ruff]\n',
      'tests/test_app.py': 'def test_ok():\n    assert True\n',
      'Cargo.toml': '[package]\nname = "x"\n',
      Makefile: 'test:\n\tshellcheck run.sh\n',
    });
    const other = await runChecks(sandbox, await detectChecks(sandbox), TIMEOUT);
    expect(other.map(({ command, missingTool, tool, passed }) => ({ command, missingTool, tool, passed }))).toEqual([
      { command: 'ruff check .', missingTool: true, tool: 'ruff', passed: false },
      { command: 'python3 -m pytest -q', missingTool: true, tool: 'pytest', passed: false },
      { command: 'cargo test', missingTool: true, tool: 'cargo', passed: false },
      { command: 'make test', missingTool: true, tool: 'shellcheck', passed: false },
    ]);
    expect(other[1]?.note).toBe('pytest is not installed in the sandbox');
    expect(other[1]?.output).toContain('No module named pytest');

    // Exit 127 alone, or a test's own import error, is the code's failure, not a missing tool.
    const own = await runChecks(
      sandbox,
      [
        { name: 'own 127', kind: 'test', command: 'echo "3 tests failed"; exit 127', source: 'test' },
        { name: 'import', kind: 'test', command: 'python3 -c "import not_a_module"', source: 'test' },
      ],
      TIMEOUT,
    );
    expect(own.map(({ passed, exitCode, missingTool }) => ({ passed, exitCode, missingTool }))).toEqual([
      { passed: false, exitCode: 127, missingTool: undefined },
      { passed: false, exitCode: 1, missingTool: undefined },
    ]);
    expect(own[1]?.output).toContain("No module named 'not_a_module'");
  });

  it('a script that is `make test` runs once, with the image\'s make', async () => {
    await repo({ 'package.json': packageJson({ test: 'make test' }), Makefile: 'test:\n\techo made-it\n' });
    const result = only(await runChecks(sandbox, await detectChecks(sandbox), TIMEOUT));
    expect(result).toMatchObject({ command: 'npm test', passed: true });
    expect(result.output).toContain('made-it');
  });

  it('an override replaces detection; its command is one bash -c argument with shell features intact', async () => {
    await repo({ 'package.json': packageJson({ test: 'node --test' }), 'test/a.test.mjs': FAILING_NODE_TEST });
    const planned = resolveChecks(await detectChecks(sandbox), {
      testCommands: [`[[ -f package.json ]] && printf '%s|%s|%s\\n' "$0" "$1" "$(echo 'quoted; $HOME')" && echo "cwd=$PWD"`],
    });
    expect(planned).toHaveLength(1);
    const result = only(await runChecks(sandbox, planned, TIMEOUT));
    expect(result.passed).toBe(true);
    // $0/$1 are the inner bash's own: nothing of ours leaked into the command's positional parameters.
    expect(result.output).toBe(`bash||quoted; $HOME\ncwd=${sandbox.workspace}\n`);
  });

  it('runs setup commands first; a failed setup skips what follows', async () => {
    await repo({ 'package.json': packageJson({ test: 'test -f .ready && cat .ready' }) });
    const ok = await runChecks(sandbox, resolveChecks(await detectChecks(sandbox), { setupCommands: ['echo prepared > .ready'] }), TIMEOUT);
    expect(ok.map(({ kind, passed }) => ({ kind, passed }))).toEqual([
      { kind: 'setup', passed: true },
      { kind: 'test', passed: true },
    ]);
    expect(ok[1]?.output).toContain('prepared');

    await repo({ 'package.json': packageJson({ test: 'true' }) });
    const failed = await runChecks(sandbox, resolveChecks(await detectChecks(sandbox), { setupCommands: ['echo cannot install >&2; exit 9', 'touch .second'] }), TIMEOUT);
    expect(failed.map(({ kind, passed, exitCode, skipped }) => ({ kind, passed, exitCode, skipped }))).toEqual([
      { kind: 'setup', passed: false, exitCode: 9, skipped: undefined },
      { kind: 'setup', passed: false, exitCode: null, skipped: true },
      { kind: 'test', passed: false, exitCode: null, skipped: true },
    ]);
    expect(failed[0]?.output).toBe('cannot install\n');
    expect(failed[2]?.note).toContain('echo cannot install');
    const second = await sandbox.exec(['test', '-e', `${sandbox.workspace}/.second`], { timeoutMs: 10_000 });
    expect(second.exitCode).toBe(1);
  });

  it('stops a check that never ends at its limit and goes on with the next', async () => {
    const checks: PlannedCheck[] = [
      { name: 'hang', kind: 'test', command: 'echo started; sleep 600', source: 'test' },
      { name: 'after', kind: 'test', command: 'echo after', source: 'test' },
    ];
    const started = Date.now();
    const [hang, after] = await runChecks(sandbox, checks, { timeoutMsPerCheck: 2_000 });
    expect(Date.now() - started).toBeLessThan(2_000 + 5_000 + 3_000);
    expect(hang).toMatchObject({ passed: false, timedOut: true, note: 'timed out after 2 s and was stopped' });
    expect(hang?.missingTool).toBeUndefined();
    expect(hang?.output).toContain('started');
    expect(hang?.durationMs).toBeGreaterThanOrEqual(1_900);
    expect(after).toMatchObject({ passed: true, output: 'after\n' });
    const ps = await sandbox.exec(['ps', '-eo', 'args'], { timeoutMs: 10_000 });
    expect(ps.stdout).not.toContain('sleep 600');
  });

  it('cuts a huge output to its head and tail, stdout and stderr together', async () => {
    const checks: PlannedCheck[] = [
      { name: 'noisy', kind: 'test', command: 'echo first-line; seq 1 300000; echo last-line-on-stderr >&2; exit 1', source: 'test' },
      { name: 'medium', kind: 'test', command: 'seq 1 1000', source: 'test' },
    ];
    const [noisy, medium] = await runChecks(sandbox, checks, { ...TIMEOUT, maxOutputChars: 2_000 });
    expect(noisy?.exitCode).toBe(1);
    expect(noisy?.output.length).toBeLessThanOrEqual(2_000);
    expect(noisy?.output.length).toBeGreaterThan(1_800);
    expect(noisy?.output.startsWith('first-line\n1\n2\n3\n')).toBe(true);
    expect(noisy?.output).toContain('[… the middle of the output was cut …]');
    expect(noisy?.output.endsWith('299999\n300000\nlast-line-on-stderr\n')).toBe(true);
    expect(noisy?.output).not.toContain('\n150000\n');

    // Fits what is fetched but not the limit: cut in the middle, with the count.
    const full = Array.from({ length: 1000 }, (_, i) => `${i + 1}\n`).join('');
    expect(medium?.output.length).toBeLessThanOrEqual(2_000);
    expect(medium?.output.startsWith('1\n2\n')).toBe(true);
    expect(medium?.output.endsWith('999\n1000\n')).toBe(true);
    const cut = /\[… ([\d,]+) characters cut …\]/.exec(medium?.output ?? '');
    expect(cut).not.toBeNull();
    const marker = cut?.[0] ?? '';
    expect(Number(cut?.[1]?.replace(/,/g, ''))).toBe(full.length - ((medium?.output.length ?? 0) - marker.length - 2));
  });

  it('strips colour codes and rejects a bad timeout or an aborted signal', async () => {
    const [colour] = await runChecks(sandbox, [{ name: 'colour', kind: 'lint', command: "printf '\\033[31mred\\033[0m\\r\\n'", source: 'test' }], TIMEOUT);
    expect(colour?.output).toBe('red\n');
    await expect(runChecks(sandbox, [], { timeoutMsPerCheck: 0 })).rejects.toThrow(/positive timeoutMsPerCheck/);
    await expect(
      runChecks(sandbox, [{ name: 'x', kind: 'test', command: 'true', source: 'test' }], { ...TIMEOUT, signal: AbortSignal.abort() }),
    ).rejects.toMatchObject({ name: 'AbortError' });
    const controller = new AbortController();
    const pending = runChecks(sandbox, [{ name: 'slow', kind: 'test', command: 'sleep 300', source: 'test' }], { ...TIMEOUT, signal: controller.signal });
    setTimeout(() => controller.abort(), 500);
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('formatCheckResults', () => {
  it('summarises real results: ✅ passed, ❌ failed with the end of its output fenced, ⏭ missing tools', async () => {
    await repo({});
    const results: CheckResult[] = await runChecks(
      sandbox,
      [
        { name: 'lint', kind: 'lint', command: 'echo ok', source: 'test' },
        { name: 'test', kind: 'test', command: 'seq 1 100; echo "\\`\\`\\`"; echo "AssertionError: boom"; exit 3', source: 'test' },
        { name: 'cargo test', kind: 'test', command: 'cargo test', source: 'Cargo.toml' },
        { name: 'slow', kind: 'test', command: 'sleep 30', source: 'test' },
      ],
      { timeoutMsPerCheck: 1_000 },
    );
    const text = formatCheckResults(results);
    const lines = text.split('\n');
    expect(lines[0]).toBe('**Checks:** 1 passed, 2 failed, 1 skipped');
    expect(lines).toContainEqual(expect.stringMatching(/^- ✅ \*\*lint\*\* `echo ok` — \d+ ms$/));
    expect(lines).toContainEqual(expect.stringMatching(/^- ❌ \*\*test\*\* ``seq 1 100; .*`` — \d+ ms, exit 3$/));
    expect(lines).toContainEqual('- ⏭ **cargo test** `cargo test` — skipped: cargo is not installed in the sandbox');
    expect(lines).toContainEqual(expect.stringMatching(/^- ❌ \*\*slow\*\* `sleep 30` — [\d.]+ s, timed out after 1 s and was stopped$/));
    // The output holds ``` itself, so the fence must be longer; only the last 40 lines are shown.
    const block = /\n(`{4,})text\n([\s\S]*?)\n\1\n/.exec(text);
    expect(block?.[2]).toContain('AssertionError: boom');
    expect(block?.[2]).toContain('\n```\n');
    expect(block?.[2]).not.toMatch(/^1\n/);
    expect(block?.[2]?.split('\n')).toHaveLength(40);
    expect(text).toContain('**slow** (`sleep 30`) printed nothing.');
    expect(text).not.toContain('cargo is not installed in the sandbox\n```');
    expect(formatCheckResults([])).toBe('No checks were run.');
  });
});
