/**
 * A small Node project for the cache benchmark's `npm ci` figures (bench/caches.ts): about 50
 * packages in node_modules (real, small, popular ones from the registry, pinned, with their
 * dependencies), a package-lock.json made by `npm install --package-lock-only` on this machine,
 * and an `npm test` that requires one of them. Kept in the bench cache as a bare repository
 * (`app.git`) and as plain files (`files/`, for the floor's plain container).
 *
 * `node dist/bench/generate-npm-project.js` makes it (or finds it) and prints what it holds.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { cached, gitAsync } from './bench-cache.js';

const execFileAsync = promisify(execFile);

const GENERATOR_VERSION = 1;

/** Direct dependencies, pinned; with their own dependencies about 50 packages. */
export const NPM_PROJECT_DEPENDENCIES: Readonly<Record<string, string>> = {
  chalk: '4.1.2',
  commander: '12.1.0',
  dayjs: '1.11.13',
  debug: '4.3.7',
  dotenv: '16.4.5',
  'escape-string-regexp': '4.0.0',
  glob: '7.2.3',
  'js-yaml': '4.1.0',
  kleur: '4.1.5',
  lodash: '4.17.21',
  minimist: '1.2.8',
  mkdirp: '1.0.4',
  nanoid: '3.3.7',
  picocolors: '1.1.1',
  rimraf: '3.0.2',
  semver: '7.6.3',
  uuid: '9.0.1',
  which: '2.0.2',
  yargs: '17.7.2',
};

const TEST_JS = `const assert = require('node:assert');
const { chunk } = require('lodash');
const semver = require('semver');
assert.deepStrictEqual(chunk([1, 2, 3, 4], 2), [[1, 2], [3, 4]]);
assert.ok(semver.gt('1.2.3', '1.2.0'));
console.log('1 passed, 0 failed');
`;

export interface NpmProject {
  /** The bare repository. */
  path: string;
  /** package.json, package-lock.json, test.js, README.md as plain files. */
  filesDir: string;
  /** Packages the lockfile installs (node_modules entries, transitive ones included). */
  packages: number;
  built: boolean;
  buildMs: number;
}

function packageJson(): string {
  return `${JSON.stringify(
    {
      name: 'bench-app',
      version: '1.0.0',
      private: true,
      description: "A generated project for TeleCoder's cache benchmark",
      scripts: { test: 'node test.js' },
      dependencies: NPM_PROJECT_DEPENDENCIES,
    },
    null,
    2,
  )}\n`;
}

function countPackages(lockText: string): number {
  const lock = JSON.parse(lockText) as { packages?: Record<string, unknown> };
  return Object.keys(lock.packages ?? {}).filter((key) => key.startsWith('node_modules/')).length;
}

async function buildNpmProject(dir: string): Promise<void> {
  const files = join(dir, 'files');
  mkdirSync(files, { recursive: true });
  writeFileSync(join(files, 'package.json'), packageJson());
  writeFileSync(join(files, 'test.js'), TEST_JS);
  writeFileSync(join(files, '.gitignore'), 'node_modules/\n');
  // resolved URLs in the lockfile, as most projects have them (this machine's npmrc may omit them).
  await execFileAsync(
    'npm',
    [
      'install',
      '--package-lock-only',
      '--ignore-scripts',
      '--no-audit',
      '--no-fund',
      '--no-omit-lockfile-registry-resolved',
      '--registry=https://registry.npmjs.org/',
    ],
    { cwd: files, env: { ...process.env, npm_config_update_notifier: 'false' }, maxBuffer: 16 * 1024 * 1024 },
  );
  const packages = countPackages(readFileSync(join(files, 'package-lock.json'), 'utf8'));
  writeFileSync(
    join(files, 'README.md'),
    `# bench-app\n\nA generated Node project: ${Object.keys(NPM_PROJECT_DEPENDENCIES).length} pinned dependencies, ` +
      `${packages} packages in node_modules. \`npm ci && npm test\`.\n`,
  );

  const work = join(dir, 'work');
  mkdirSync(work);
  await gitAsync(work, ['init', '-q', '-b', 'main']);
  for (const name of ['package.json', 'package-lock.json', 'test.js', '.gitignore', 'README.md']) {
    writeFileSync(join(work, name), readFileSync(join(files, name)));
  }
  await gitAsync(work, ['add', '-A']);
  await gitAsync(work, ['commit', '-q', '-m', 'bench app']);
  await gitAsync(dir, ['clone', '-q', '--bare', work, join(dir, 'app.git')]);
  await execFileAsync('rm', ['-rf', work]);
}

export async function ensureNpmProject(): Promise<NpmProject> {
  const hash = createHash('sha256').update(JSON.stringify(NPM_PROJECT_DEPENDENCIES)).update(TEST_JS).digest('hex').slice(0, 12);
  const entry = await cached(`npm-project-v${GENERATOR_VERSION}-${hash}`, buildNpmProject);
  const filesDir = join(entry.dir, 'files');
  return {
    path: join(entry.dir, 'app.git'),
    filesDir,
    packages: countPackages(readFileSync(join(filesDir, 'package-lock.json'), 'utf8')),
    built: entry.built,
    buildMs: entry.buildMs,
  };
}

export function describeNpmProject(project: NpmProject): string {
  const made = project.built ? `generated in ${(project.buildMs / 1000).toFixed(1)} s` : 'found in the bench cache';
  return `npm project: ${Object.keys(NPM_PROJECT_DEPENDENCIES).length} dependencies, ${project.packages} packages in its lockfile (${made}) — ${project.path}`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  ensureNpmProject()
    .then((project) => console.log(describeNpmProject(project)))
    .catch((error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    });
}
