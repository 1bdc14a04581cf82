import { isRecord, ownValue, parseJsonObject } from './json-object.js';
import type { ProjectFiles } from './read-project-files.js';

export type DetectedCheckKind = 'test' | 'lint' | 'typecheck' | 'build';

export interface DetectedCheck {
  name: string;
  kind: DetectedCheckKind;
  /** Run with `bash -c` in the workspace. */
  command: string;
  /** Why this check was chosen, e.g. "package.json scripts.test". */
  source: string;
}

/** Cheap checks first, so a broken build is reported before a long test run. */
export const CHECK_KIND_ORDER: readonly DetectedCheckKind[] = ['typecheck', 'lint', 'test', 'build'];
export const MAX_DETECTED_CHECKS = 6;

const MAKEFILES = ['GNUmakefile', 'makefile', 'Makefile'] as const;
const ESLINT_CONFIGS = [
  'eslint.config.js',
  'eslint.config.mjs',
  'eslint.config.cjs',
  'eslint.config.ts',
  'eslint.config.mts',
  'eslint.config.cts',
  '.eslintrc',
  '.eslintrc.js',
  '.eslintrc.cjs',
  '.eslintrc.json',
  '.eslintrc.yml',
  '.eslintrc.yaml',
] as const;

/** Top-level files whose text detection reads (the rest only need to exist). */
export const FILES_TO_READ: readonly string[] = ['package.json', 'pyproject.toml', 'setup.cfg', 'tox.ini', ...MAKEFILES];

/** npm writes this into every new package.json; it is a placeholder, not a test suite. */
const NPM_PLACEHOLDER_TEST = /no test specified/i;
const TYPECHECK_SCRIPTS = ['typecheck', 'type-check', 'check-types', 'tsc'] as const;

interface Candidate extends DetectedCheck {
  /** What the check really runs, for spotting the same check found twice (a script that is `make test`). */
  runs: string[];
}

/** Turns what was read from the repository into checks: deduplicated, ordered, capped. Never throws. */
export function checksFromFiles(project: ProjectFiles): DetectedCheck[] {
  const candidates = [
    ...nodeChecks(project),
    ...pythonChecks(project),
    ...goAndRustChecks(project),
    ...makeChecks(project),
  ];
  const kept: Candidate[] = [];
  const seen = new Set<string>();
  for (const candidate of candidates) {
    const keys = candidate.runs.map(commandKey);
    if (keys.some((key) => seen.has(key))) continue;
    for (const key of keys) seen.add(key);
    kept.push(candidate);
  }
  // Array.prototype.sort is stable: within a kind, detection order (package.json first) stays.
  kept.sort((a, b) => CHECK_KIND_ORDER.indexOf(a.kind) - CHECK_KIND_ORDER.indexOf(b.kind));
  return kept.slice(0, MAX_DETECTED_CHECKS).map(({ name, kind, command, source }) => ({ name, kind, command, source }));
}

function nodeChecks(project: ProjectFiles): Candidate[] {
  const manifest = parsePackageJson(project.text.get('package.json'));
  const checks: Candidate[] = [];
  const scripts = manifest?.scripts ?? new Map<string, string>();
  if (manifest) {
    const pm = packageManager(project, manifest.packageManager);
    const script = (name: string, kind: DetectedCheckKind, label: string): Candidate | undefined => {
      const body = scripts.get(name);
      if (body === undefined) return undefined;
      const command = name === 'test' ? `${pm} test` : `${pm} run ${name}`;
      return { name: label, kind, command, source: `package.json scripts.${name}`, runs: [command, body] };
    };
    const typecheckScript = TYPECHECK_SCRIPTS.find((name) => scripts.has(name));
    const test = scripts.get('test');
    const found = [
      typecheckScript ? script(typecheckScript, 'typecheck', 'typecheck') : undefined,
      script('lint', 'lint', 'lint'),
      test !== undefined && !NPM_PLACEHOLDER_TEST.test(test) ? script('test', 'test', 'test') : undefined,
      script('build', 'build', 'build'),
    ];
    for (const check of found) if (check) checks.push(check);
  }
  if (!scripts.has('lint')) {
    const config = ESLINT_CONFIGS.find((name) => project.files.has(name)) ?? (manifest?.hasEslintConfig ? 'package.json eslintConfig' : undefined);
    if (config) {
      // --offline: a sandbox without network would otherwise spend a minute retrying the registry.
      const command = 'npx --no-install --offline eslint .';
      checks.push({ name: 'eslint', kind: 'lint', command, source: `${config} (no lint script)`, runs: [command] });
    }
  }
  return checks;
}

interface PackageManifest {
  /** Non-empty string scripts only. */
  scripts: Map<string, string>;
  packageManager: string | undefined;
  hasEslintConfig: boolean;
}

function parsePackageJson(text: string | undefined): PackageManifest | undefined {
  const parsed = parseJsonObject(text);
  if (!parsed) return undefined;
  const scripts = new Map<string, string>();
  const rawScripts = ownValue(parsed, 'scripts');
  if (isRecord(rawScripts)) {
    for (const [name, body] of Object.entries(rawScripts)) {
      if (typeof body === 'string' && body.trim() !== '') scripts.set(name, body.trim());
    }
  }
  const pm = ownValue(parsed, 'packageManager');
  return {
    scripts,
    packageManager: typeof pm === 'string' ? pm : undefined,
    hasEslintConfig: isRecord(ownValue(parsed, 'eslintConfig')),
  };
}

/** The lockfile decides; `packageManager` is the fallback; npm is what every Node install has. */
function packageManager(project: ProjectFiles, declared: string | undefined): 'npm' | 'pnpm' | 'yarn' {
  if (project.files.has('pnpm-lock.yaml')) return 'pnpm';
  if (project.files.has('yarn.lock')) return 'yarn';
  if (project.files.has('package-lock.json')) return 'npm';
  const name = declared?.match(/^(npm|pnpm|yarn)@/)?.[1];
  return name === 'pnpm' || name === 'yarn' ? name : 'npm';
}

function pythonChecks(project: ProjectFiles): Candidate[] {
  const pyproject = project.text.get('pyproject.toml');
  const setupCfg = project.text.get('setup.cfg');
  const toxIni = project.text.get('tox.ini');
  const checks: Candidate[] = [];

  const pytestSource =
    (project.files.has('pytest.ini') && 'pytest.ini') ||
    (pyproject !== undefined && hasSection(pyproject, /tool\.pytest\.ini_options/) && 'pyproject.toml [tool.pytest.ini_options]') ||
    (setupCfg !== undefined && hasSection(setupCfg, /tool:pytest/) && 'setup.cfg [tool:pytest]') ||
    (toxIni !== undefined && hasSection(toxIni, /pytest/) && 'tox.ini [pytest]') ||
    (pyproject !== undefined && /["']pytest\b/.test(pyproject) && 'pyproject.toml (pytest dependency)') ||
    (project.hasPythonTestFiles && 'test files (test_*.py)') ||
    ([...project.files].some((name) => /^test_.*\.py$/.test(name)) && 'test files (test_*.py)');
  if (pytestSource) {
    const command = 'python3 -m pytest -q';
    checks.push({ name: 'pytest', kind: 'test', command, source: pytestSource, runs: [command] });
  }

  const ruffSource =
    (project.files.has('ruff.toml') && 'ruff.toml') ||
    (project.files.has('.ruff.toml') && '.ruff.toml') ||
    (pyproject !== undefined && hasSection(pyproject, /tool\.ruff(?:\.[\w.-]+)?/) && 'pyproject.toml [tool.ruff]');
  if (ruffSource) {
    const command = 'ruff check .';
    checks.push({ name: 'ruff', kind: 'lint', command, source: ruffSource, runs: [command] });
  }

  const flake8Source =
    (project.files.has('.flake8') && '.flake8') ||
    (setupCfg !== undefined && hasSection(setupCfg, /flake8/) && 'setup.cfg [flake8]') ||
    (toxIni !== undefined && hasSection(toxIni, /flake8/) && 'tox.ini [flake8]');
  if (flake8Source) {
    const command = 'python3 -m flake8';
    checks.push({ name: 'flake8', kind: 'lint', command, source: flake8Source, runs: [command] });
  }
  return checks;
}

function goAndRustChecks(project: ProjectFiles): Candidate[] {
  const checks: Candidate[] = [];
  if (project.files.has('go.mod')) {
    checks.push({ name: 'go vet', kind: 'lint', command: 'go vet ./...', source: 'go.mod', runs: ['go vet ./...'] });
    checks.push({ name: 'go test', kind: 'test', command: 'go test ./...', source: 'go.mod', runs: ['go test ./...'] });
  }
  if (project.files.has('Cargo.toml')) {
    checks.push({ name: 'cargo test', kind: 'test', command: 'cargo test', source: 'Cargo.toml', runs: ['cargo test'] });
  }
  return checks;
}

function makeChecks(project: ProjectFiles): Candidate[] {
  // GNU make reads the first of these that exists.
  const makefile = MAKEFILES.find((name) => project.text.has(name));
  if (!makefile) return [];
  const targets = makeTargets(project.text.get(makefile) ?? '');
  const target = targets.has('test') ? 'test' : targets.has('check') ? 'check' : undefined;
  if (!target) return [];
  const command = `make ${target}`;
  return [{ name: command, kind: 'test', command, source: `${makefile} target ${target}`, runs: [command] }];
}

/** Explicit rule targets (`name:` or `name::`, not `name := value`) at the start of a line. */
function makeTargets(text: string): Set<string> {
  const targets = new Set<string>();
  for (const line of text.split(/\r?\n/)) {
    const match = /^([^\s:=#][^:=#]*?)\s*::?(?!=)/.exec(line);
    if (!match?.[1]) continue;
    for (const name of match[1].split(/\s+/)) targets.add(name);
  }
  return targets;
}

/** Whether an INI/TOML-style file has a `[section]` header matching `name` exactly. */
function hasSection(text: string, name: RegExp): boolean {
  return new RegExp(`^[ \\t]*\\[[ \\t]*(?:${name.source})[ \\t]*\\][ \\t]*(?:[#;].*)?\\r?$`, 'm').test(text);
}

/**
 * What a command runs, without what only locates or decorates it: `npx --no-install eslint .`,
 * `python3 -m pytest -q` and `pytest` all come down to the tool and its non-flag arguments.
 */
function commandKey(command: string): string {
  let tokens = command.trim().split(/\s+/);
  if (tokens[0] === 'npx') {
    tokens = tokens.slice(1);
    while (tokens[0]?.startsWith('-')) tokens = tokens.slice(1);
  } else if (/^python(?:\d+(?:\.\d+)?)?$/.test(tokens[0] ?? '') && tokens[1] === '-m') {
    tokens = tokens.slice(2);
  }
  return tokens.filter((token) => !token.startsWith('-')).join(' ');
}
