import { isRecord, ownValue, parseJsonObject } from '../checks/json-object.js';
import type { ProjectFiles } from '../checks/read-project-files.js';

/** One command that installs a project's dependencies, run with `bash -c` in the workspace. */
export interface SetupCommand {
  name: string;
  /** What people see (events, the PR body); what runs, unless `run` says otherwise. */
  command: string;
  /** Why it was chosen, e.g. "package-lock.json". */
  source: string;
  /** The script that really runs, when it wraps `command` (the installed-tree cache). */
  run?: string;
}

/**
 * Wraps a lockfile install so that its result, node_modules, is kept in the repository's
 * dependency cache volume under a key of the lockfile, package.json, the Node version and the
 * command, and restored from there the next time they are all the same: unpacking the tree is
 * several times faster than installing it even from a warm package cache. Only when the volume is
 * mounted; the three newest trees are kept. The command is "$1", never pasted into the script.
 */
const INSTALLED_TREE_CACHE = [
  'dir="$HOME/.cache/telecoder/node_modules"',
  'cached=no; grep -qs " $HOME/.cache " /proc/mounts && cached=yes',
  'key=$({ cat package-lock.json npm-shrinkwrap.json package.json 2>/dev/null; node --version; printf %s "$1"; } | sha256sum | cut -c1-32)',
  'if [ "$cached" = yes ] && [ -f "$dir/$key.tar" ]; then',
  '  rm -rf node_modules && tar -xf "$dir/$key.tar" && { echo "node_modules restored from the repository\'s dependency cache ($key)"; exit 0; }',
  '  rm -rf node_modules',
  'fi',
  'bash -c "$1" || exit $?',
  'if [ "$cached" = yes ] && [ -d node_modules ]; then',
  '  mkdir -p "$dir" && tar -cf "$dir/$key.tar.$$" node_modules && mv -f "$dir/$key.tar.$$" "$dir/$key.tar"',
  '  ls -t "$dir"/*.tar 2>/dev/null | tail -n +4 | xargs -r rm -f --',
  'fi',
].join('\n');

function withInstalledTreeCache(command: string): string {
  return `set -- ${shellQuote(command)}\n${INSTALLED_TREE_CACHE}`;
}

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** Top-level files whose text setup detection reads (the rest only need to exist). */
export const SETUP_FILES_TO_READ: readonly string[] = ['package.json', 'pyproject.toml'];

/** Where setup makes the Python virtualenv; later commands and checks run with it active. */
export const VENV_DIR = '.venv';

const NPM_FLAGS = '--prefer-offline --no-audit --no-fund';

/**
 * The commands that install the project's dependencies, from its lockfiles and manifests: Node
 * (npm, pnpm, yarn, through corepack when package.json pins the manager), Python (a virtualenv,
 * with uv when the repository uses it), Go, Rust and Ruby. A repository with none gets none.
 * Pure and total: a malformed manifest yields no command for it, never an error.
 */
export function setupFromFiles(project: ProjectFiles): SetupCommand[] {
  return [...nodeSetup(project), ...pythonSetup(project), ...otherSetup(project)];
}

interface NodeManifest {
  hasDependencies: boolean;
  /** npm/yarn workspaces: node_modules in more places than the root. */
  workspaces: boolean;
  /** `packageManager`, e.g. "pnpm@9.1.0", when it names one of the three. */
  pinned?: { name: 'npm' | 'pnpm' | 'yarn'; major: number };
}

function nodeSetup(project: ProjectFiles): SetupCommand[] {
  const manifest = parseNodeManifest(project.text.get('package.json'));
  if (!manifest?.hasDependencies) return [];
  const { files } = project;
  const lockfile = ['pnpm-lock.yaml', 'yarn.lock', 'package-lock.json', 'npm-shrinkwrap.json'].find((name) => files.has(name));
  const manager =
    lockfile === 'pnpm-lock.yaml' ? 'pnpm' : lockfile === 'yarn.lock' ? 'yarn' : lockfile ? 'npm' : (manifest.pinned?.name ?? 'npm');
  // Corepack runs the exact version package.json pins; without a pin the image's own manager runs.
  const run = manifest.pinned?.name === manager ? `corepack ${manager}` : manager;
  const source = lockfile ?? 'package.json (no lockfile)';
  switch (manager) {
    case 'pnpm':
      return [{ name: `${manager} install`, source, command: `${run} install ${lockfile ? '--frozen-lockfile' : '--no-lockfile'} --prefer-offline` }];
    case 'yarn': {
      const berry = files.has('.yarnrc.yml') || (manifest.pinned?.name === 'yarn' && manifest.pinned.major >= 2);
      const flags = berry ? (lockfile ? '--immutable' : '') : lockfile ? '--frozen-lockfile --prefer-offline' : '--no-lockfile --prefer-offline';
      return [{ name: 'yarn install', source, command: `${run} install ${flags}`.trim() }];
    }
    default:
      return lockfile
        ? [
            {
              name: 'npm ci',
              source,
              command: `${run} ci ${NPM_FLAGS}`,
              // npm workspaces leave node_modules in every package; only a single tree is cached.
              ...(manifest.workspaces ? {} : { run: withInstalledTreeCache(`${run} ci ${NPM_FLAGS}`) }),
            },
          ]
        : // No lockfile to follow: install without writing one, so none turns up in the change.
          [{ name: 'npm install', source, command: `${run} install ${NPM_FLAGS} --no-package-lock` }];
  }
}

function parseNodeManifest(text: string | undefined): NodeManifest | undefined {
  const parsed = parseJsonObject(text);
  if (!parsed) return undefined;
  const nonEmpty = (key: string) => {
    const value = ownValue(parsed, key);
    return (isRecord(value) && Object.keys(value).length > 0) || (Array.isArray(value) && value.length > 0);
  };
  const hasDependencies = ['dependencies', 'devDependencies', 'optionalDependencies', 'workspaces'].some(nonEmpty);
  const declared = ownValue(parsed, 'packageManager');
  const match = typeof declared === 'string' ? /^(npm|pnpm|yarn)@(\d+)/.exec(declared) : null;
  return {
    hasDependencies,
    workspaces: nonEmpty('workspaces'),
    ...(match ? { pinned: { name: match[1] as 'npm' | 'pnpm' | 'yarn', major: Number(match[2]) } } : {}),
  };
}

function pythonSetup(project: ProjectFiles): SetupCommand[] {
  const requirements = [...project.files].filter((name) => /^requirements[\w.-]*\.txt$/.test(name)).sort(requirementsOrder);
  const pyproject = project.text.get('pyproject.toml');
  const installable = pyproject !== undefined && /^\s*\[(?:project|tool\.poetry)\]\s*$/m.test(pyproject);
  const pip = `${VENV_DIR}/bin/python -m pip install`;
  const venv = `python3 -m venv ${VENV_DIR}`;

  if (project.files.has('uv.lock') && installable) {
    // uv makes .venv itself; an image without uv still gets a working virtualenv from pip.
    const fallback = `${venv} && ${pip} -e ${quoteExtras(pyproject)}`;
    return [
      {
        name: 'uv sync',
        source: 'uv.lock',
        command:
          `if command -v uv >/dev/null 2>&1; then UV_PROJECT_ENVIRONMENT=${VENV_DIR} uv sync --frozen; ` +
          `else echo "uv is not installed in the sandbox image; installing with pip instead" >&2; ${fallback}; fi`,
      },
    ];
  }
  const parts: string[] = [];
  if (requirements.length > 0) parts.push(...requirements.map((name) => `-r ${name}`));
  if (installable) parts.push(`-e ${quoteExtras(pyproject)}`);
  if (parts.length === 0) return [];
  const source = [...requirements, ...(installable ? ['pyproject.toml'] : [])].join(', ');
  return [{ name: 'pip install', source, command: `${venv} && ${pip} ${parts.join(' ')}` }];
}

/** requirements.txt first, then the others by name. */
function requirementsOrder(a: string, b: string): number {
  if (a === 'requirements.txt') return -1;
  if (b === 'requirements.txt') return 1;
  return a.localeCompare(b);
}

/** `.` with the extras that usually hold test tools (dev, test, tests), when the project has them. */
function quoteExtras(pyproject: string | undefined): string {
  const section = /^\s*\[project\.optional-dependencies\]\s*$([\s\S]*?)(?=^\s*\[|$(?![\s\S]))/m.exec(pyproject ?? '')?.[1] ?? '';
  const extras = ['dev', 'test', 'tests'].filter((name) => new RegExp(`^\\s*${name}\\s*=`, 'm').test(section));
  return extras.length > 0 ? `'.[${extras.join(',')}]'` : '.';
}

function otherSetup(project: ProjectFiles): SetupCommand[] {
  const commands: SetupCommand[] = [];
  if (project.files.has('go.mod')) commands.push({ name: 'go mod download', source: 'go.mod', command: 'go mod download' });
  if (project.files.has('Cargo.toml')) commands.push({ name: 'cargo fetch', source: 'Cargo.toml', command: 'cargo fetch' });
  if (project.files.has('Gemfile')) commands.push({ name: 'bundle install', source: 'Gemfile', command: 'bundle install' });
  return commands;
}
