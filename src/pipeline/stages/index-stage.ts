import { extname } from 'node:path';
import type { Sandbox } from '../../sandbox/runtime.js';
import type { PipelineStage, StageContext } from '../stage.js';

const TREE_DEPTH = 3;
const MAX_TREE_ENTRIES = 400;
const MAX_FILES_COUNTED = 20_000;
const KEY_FILE_LINES = 100;
const KEY_FILE_CHARS = 6_000;
/** The whole context goes into every plan prompt: keep it a small part of a model's window. */
export const MAX_REPO_CONTEXT_CHARS = 24_000;
const EXEC_TIMEOUT_MS = 30_000;

/** Files worth reading whole (their start): what the project is, how it builds, how to work in it. */
const KEY_FILES = [
  'README.md', 'README', 'README.rst', 'README.txt',
  'AGENTS.md', 'CLAUDE.md',
  'package.json', 'go.mod', 'Cargo.toml', 'pyproject.toml', 'setup.py', 'requirements.txt',
  'Makefile', 'pom.xml', 'build.gradle', 'Gemfile', 'composer.json', 'tsconfig.json',
];

const LANGUAGES: Record<string, string> = {
  '.ts': 'TypeScript', '.tsx': 'TypeScript', '.mts': 'TypeScript', '.cts': 'TypeScript',
  '.js': 'JavaScript', '.jsx': 'JavaScript', '.mjs': 'JavaScript', '.cjs': 'JavaScript',
  '.py': 'Python', '.go': 'Go', '.rs': 'Rust', '.java': 'Java', '.kt': 'Kotlin', '.rb': 'Ruby',
  '.php': 'PHP', '.cs': 'C#', '.c': 'C', '.h': 'C', '.cc': 'C++', '.cpp': 'C++', '.hpp': 'C++',
  '.swift': 'Swift', '.scala': 'Scala', '.sh': 'Shell', '.sql': 'SQL', '.html': 'HTML',
  '.css': 'CSS', '.scss': 'CSS', '.vue': 'Vue', '.svelte': 'Svelte', '.md': 'Markdown',
};

async function run(sandbox: Sandbox, argv: string[], maxOutputBytes: number, signal: AbortSignal) {
  return sandbox.exec(argv, { cwd: sandbox.workspace, timeoutMs: EXEC_TIMEOUT_MS, maxOutputBytes, signal });
}

/** Paths relative to the workspace, skipping .git and dependency folders. Argv only: no shell. */
function findArgv(maxDepth: number | undefined, type: 'f' | undefined): string[] {
  return [
    'find', '.',
    ...(maxDepth !== undefined ? ['-maxdepth', String(maxDepth)] : []),
    '(', '-name', '.git', '-o', '-name', 'node_modules', '-o', '-name', 'vendor', '-o', '-name', '.venv', '-o', '-name', 'target', '-o', '-name', 'dist', ')', '-prune',
    '-o', ...(type ? ['-type', type] : ['-mindepth', '1']), '-printf', '%y %P\\n',
  ];
}

function languageShares(paths: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const path of paths) {
    const language = LANGUAGES[extname(path).toLowerCase()];
    if (language) counts.set(language, (counts.get(language) ?? 0) + 1);
  }
  const total = [...counts.values()].reduce((sum, n) => sum + n, 0);
  if (total === 0) return 'no recognised source files';
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([language, n]) => `${language} ${Math.round((n / total) * 100)}% (${n} files)`)
    .join(', ');
}

/**
 * What is known about the repository, for the planning stages: its language shares, its file
 * tree to depth 3, and the start of its README, manifests and agent instructions. Read in the
 * sandbox (the repository is untrusted), bounded in size at every step.
 */
export async function describeRepository(sandbox: Sandbox, signal: AbortSignal): Promise<string> {
  const all = await run(sandbox, findArgv(undefined, 'f'), 2 * 1024 * 1024, signal);
  const files = all.stdout.split('\n').filter((line) => line.startsWith('f ')).slice(0, MAX_FILES_COUNTED).map((line) => line.slice(2));
  const tree = await run(sandbox, findArgv(TREE_DEPTH, undefined), 256 * 1024, signal);
  const entries = tree.stdout
    .split('\n')
    .filter((line) => line.length > 2)
    .map((line) => (line.startsWith('d ') ? `${line.slice(2)}/` : line.slice(2)))
    .sort();
  const shown = entries.slice(0, MAX_TREE_ENTRIES);
  if (entries.length > shown.length) shown.push(`… and ${entries.length - shown.length} more`);

  const parts = [
    `Languages: ${languageShares(files)}`,
    `Files: ${files.length}${files.length >= MAX_FILES_COUNTED ? '+' : ''}`,
    '',
    `File tree (depth ${TREE_DEPTH}):`,
    shown.join('\n'),
  ];
  const present = new Set(files);
  for (const name of KEY_FILES) {
    if (!present.has(name)) continue;
    const head = await run(sandbox, ['head', '-n', String(KEY_FILE_LINES), '--', name], KEY_FILE_CHARS * 4, signal);
    if (head.exitCode !== 0) continue;
    const text = head.stdout.length > KEY_FILE_CHARS ? `${head.stdout.slice(0, KEY_FILE_CHARS)}\n… (cut)` : head.stdout;
    parts.push('', `--- ${name} (first ${KEY_FILE_LINES} lines) ---`, text.trimEnd());
  }
  const context = parts.join('\n');
  return context.length > MAX_REPO_CONTEXT_CHARS ? `${context.slice(0, MAX_REPO_CONTEXT_CHARS)}\n… (repository description cut)` : context;
}

export class IndexStage implements PipelineStage {
  readonly name = 'index';

  async run(context: StageContext): Promise<void> {
    context.emit('output', 'Indexing the repository');
    context.state.repoContext = await describeRepository(context.sandbox, context.signal);
  }
}
