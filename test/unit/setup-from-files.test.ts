import { describe, expect, it } from 'vitest';
import type { ProjectFiles } from '../../src/pipeline/checks/read-project-files.js';
import { setupFromFiles } from '../../src/pipeline/setup/setup-from-files.js';

function project(files: Record<string, string | null>): ProjectFiles {
  return {
    files: new Set(Object.keys(files)),
    dirs: new Set(),
    text: new Map(Object.entries(files).filter((entry): entry is [string, string] => entry[1] !== null)),
    hasPythonTestFiles: false,
  };
}

const withDeps = (extra: Record<string, unknown> = {}) => JSON.stringify({ name: 'x', dependencies: { 'is-number': '^7.0.0' }, ...extra });
const commands = (files: Record<string, string | null>) => setupFromFiles(project(files)).map((command) => command.command);

describe('setup detection', () => {
  it('installs Node dependencies with the manager the lockfile names', () => {
    expect(commands({ 'package.json': withDeps(), 'package-lock.json': null })).toEqual(['npm ci --prefer-offline --no-audit --no-fund']);
    expect(commands({ 'package.json': withDeps(), 'npm-shrinkwrap.json': null })).toEqual(['npm ci --prefer-offline --no-audit --no-fund']);
    expect(commands({ 'package.json': withDeps(), 'pnpm-lock.yaml': null })).toEqual(['pnpm install --frozen-lockfile --prefer-offline']);
    expect(commands({ 'package.json': withDeps(), 'yarn.lock': null })).toEqual(['yarn install --frozen-lockfile --prefer-offline']);
    expect(commands({ 'package.json': withDeps(), 'yarn.lock': null, '.yarnrc.yml': null })).toEqual(['yarn install --immutable']);
  });

  it('goes through corepack when package.json pins the manager, and tells Yarn 1 from Yarn 2+', () => {
    expect(commands({ 'package.json': withDeps({ packageManager: 'pnpm@9.12.0' }), 'pnpm-lock.yaml': null })).toEqual([
      'corepack pnpm install --frozen-lockfile --prefer-offline',
    ]);
    expect(commands({ 'package.json': withDeps({ packageManager: 'yarn@4.5.0' }), 'yarn.lock': null })).toEqual(['corepack yarn install --immutable']);
    expect(commands({ 'package.json': withDeps({ packageManager: 'yarn@1.22.22' }), 'yarn.lock': null })).toEqual([
      'corepack yarn install --frozen-lockfile --prefer-offline',
    ]);
    // The lockfile decides the manager; a pin of another manager does not route npm through corepack.
    expect(commands({ 'package.json': withDeps({ packageManager: 'pnpm@9.0.0' }), 'package-lock.json': null })).toEqual([
      'npm ci --prefer-offline --no-audit --no-fund',
    ]);
  });

  it('keeps an npm ci tree in the dependency cache, except for workspaces whose trees are spread out', () => {
    const [single] = setupFromFiles(project({ 'package.json': withDeps(), 'package-lock.json': null }));
    expect(single!.run).toMatch(/^set -- 'npm ci --prefer-offline --no-audit --no-fund'\n/);
    expect(single!.run).toContain('bash -c "$1" || exit $?');
    const [spread] = setupFromFiles(project({ 'package.json': withDeps({ workspaces: ['packages/*'] }), 'package-lock.json': null }));
    expect(spread!.run).toBeUndefined();
    expect(setupFromFiles(project({ 'package.json': withDeps(), 'pnpm-lock.yaml': null }))[0]!.run).toBeUndefined();
  });

  it('installs without writing a lockfile when there is none, and skips manifests with no dependencies', () => {
    expect(commands({ 'package.json': withDeps() })).toEqual(['npm install --prefer-offline --no-audit --no-fund --no-package-lock']);
    expect(commands({ 'package.json': JSON.stringify({ name: 'x', scripts: { test: 'node --test' } }), 'package-lock.json': null })).toEqual([]);
    expect(commands({ 'package.json': '{not json', 'package-lock.json': null })).toEqual([]);
    expect(commands({ 'package.json': JSON.stringify({ workspaces: ['packages/*'] }), 'package-lock.json': null })).toEqual([
      'npm ci --prefer-offline --no-audit --no-fund',
    ]);
  });

  it('makes a virtualenv for Python requirements and installable projects, with uv when the repository uses it', () => {
    expect(commands({ 'requirements.txt': null, 'requirements-dev.txt': null })).toEqual([
      'python3 -m venv .venv && .venv/bin/python -m pip install -r requirements.txt -r requirements-dev.txt',
    ]);
    const pyproject = '[project]\nname = "x"\n\n[project.optional-dependencies]\ntest = ["pytest"]\ndocs = ["mkdocs"]\n\n[tool.ruff]\n';
    expect(commands({ 'pyproject.toml': pyproject })).toEqual(["python3 -m venv .venv && .venv/bin/python -m pip install -e '.[test]'"]);
    const [uv] = commands({ 'pyproject.toml': pyproject, 'uv.lock': null });
    expect(uv).toMatch(/^if command -v uv >\/dev\/null 2>&1; then UV_PROJECT_ENVIRONMENT=\.venv uv sync --frozen; else .*pip install -e '\.\[test\]'; fi$/);
    // A pyproject that only configures tools is not a package to install.
    expect(commands({ 'pyproject.toml': '[tool.ruff]\nline-length = 100\n' })).toEqual([]);
  });

  it('fetches Go, Rust and Ruby dependencies, and finds nothing in a repository without manifests', () => {
    expect(commands({ 'go.mod': null, 'Cargo.toml': null, Gemfile: null })).toEqual(['go mod download', 'cargo fetch', 'bundle install']);
    expect(commands({ 'README.md': null, 'main.c': null, Makefile: 'all:\n\tcc main.c\n' })).toEqual([]);
  });

  it('installs every ecosystem of a mixed repository, Node first', () => {
    const found = setupFromFiles(project({ 'package.json': withDeps(), 'package-lock.json': null, 'requirements.txt': null, 'go.mod': null }));
    expect(found.map((command) => command.name)).toEqual(['npm ci', 'pip install', 'go mod download']);
    expect(found.map((command) => command.source)).toEqual(['package-lock.json', 'requirements.txt', 'go.mod']);
  });
});
