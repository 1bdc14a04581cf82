/**
 * Repositories for the cache benchmark (bench/caches.ts), made once and kept in the bench cache:
 *
 * - big: a bare repository with FILES files at the tip (default 20,000, ~1 kB of random text
 *   each) and about HISTORY_MB of history on disk after `git gc` (default 200 MB), over COMMITS
 *   commits (default 2,000). Each commit after the first rewrites a few source files and replaces
 *   a binary asset (`assets/snapshot.bin`, random bytes), so the history is mostly old versions
 *   of that asset: incompressible, as vendored binaries and generated files in real histories
 *   are. No package.json, so a setup stage has nothing to install.
 * - tiny: README.md and src/index.js, one commit.
 *
 * Made with `git fast-import`, fed from Node. `node dist/bench/generate-big-repo.js` makes both
 * (or finds them) and prints where they are, how long generation took and their size;
 * BENCH_BIG_FILES, BENCH_BIG_HISTORY_MB and BENCH_BIG_COMMITS change the parameters (and the key).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BENCH_GIT_ENV, cached, diskBytes, formatBytes, gitAsync } from './bench-cache.js';

export interface BigRepoParams {
  files: number;
  historyMb: number;
  commits: number;
}

export interface GeneratedRepo {
  /** The bare repository. */
  path: string;
  params: BigRepoParams | Record<string, never>;
  /** Made by this call (false: found in the cache). */
  built: boolean;
  buildMs: number;
  /** Bytes on disk of the bare repository. */
  diskBytes: number;
  tipFiles: number;
  commits: number;
}

const GENERATOR_VERSION = 1;
/** Source files rewritten by each commit after the first. */
const REWRITES_PER_COMMIT = 5;
/** Average size of a source file's text (its random content is 3/4 of that, base64'd). */
const AVERAGE_FILE_BYTES = 1_000;
/** What zlib leaves of base64 text of random bytes (6 bits of entropy per 8-bit character). */
const BASE64_PACKED_RATIO = 0.77;

export function bigRepoParams(env: NodeJS.ProcessEnv = process.env): BigRepoParams {
  const read = (name: string, fallback: number) => {
    const value = Number(env[name] ?? fallback);
    if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a whole number ≥ 1 (got "${env[name]}")`);
    return value;
  };
  return {
    files: read('BENCH_BIG_FILES', 20_000),
    historyMb: read('BENCH_BIG_HISTORY_MB', 200),
    commits: read('BENCH_BIG_COMMITS', 2_000),
  };
}

/** `src/m07/p13/f00042.txt`: 40 directories of 25 of at most 20 files (for 20,000 files). */
function sourcePath(index: number): string {
  const sub = Math.floor(index / 20);
  return `src/m${String(Math.floor(sub / 25)).padStart(3, '0')}/p${String(sub % 25).padStart(2, '0')}/f${String(index).padStart(5, '0')}.txt`;
}

/** Random text of about `size` bytes: base64 lines of 76 characters under a header line. */
function randomText(header: string, size: number): Buffer {
  const body = randomBytes(Math.max(1, Math.floor((size * 3) / 4)))
    .toString('base64')
    .replace(/.{76}/g, '$&\n');
  return Buffer.from(`${header}\n${body}\n`);
}

/** Writes git fast-import's stream with backpressure, in chunks of about a megabyte. */
class StreamWriter {
  readonly #stdin: NodeJS.WritableStream;
  #pending: Buffer[] = [];
  #pendingBytes = 0;

  constructor(stdin: NodeJS.WritableStream) {
    this.#stdin = stdin;
  }

  async write(part: Buffer | string): Promise<void> {
    const buffer = typeof part === 'string' ? Buffer.from(part) : part;
    this.#pending.push(buffer);
    this.#pendingBytes += buffer.length;
    if (this.#pendingBytes >= 1024 * 1024) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.#pending.length === 0) return;
    const chunk = Buffer.concat(this.#pending);
    this.#pending = [];
    this.#pendingBytes = 0;
    if (!this.#stdin.write(chunk)) await once(this.#stdin, 'drain');
  }
}

async function fastImport(bareDir: string, produce: (out: StreamWriter) => Promise<void>): Promise<void> {
  const child = spawn('git', ['fast-import', '--quiet', '--done'], { cwd: bareDir, env: BENCH_GIT_ENV, stdio: ['pipe', 'ignore', 'pipe'] });
  const stderr: Buffer[] = [];
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  const out = new StreamWriter(child.stdin);
  try {
    await produce(out);
    await out.write('done\n');
    await out.flush();
  } finally {
    child.stdin.end();
  }
  const code = await exited;
  if (code !== 0) throw new Error(`git fast-import failed (${code}): ${Buffer.concat(stderr).toString('utf8').slice(0, 2000)}`);
}

function commitHeader(index: number, message: string): string {
  const when = 1_600_000_000 + index * 3_600;
  const text = Buffer.from(`${message}\n`);
  return (
    `commit refs/heads/main\n` +
    `author Bench <bench@example.com> ${when} +0000\n` +
    `committer Bench <bench@example.com> ${when} +0000\n` +
    `data ${text.length}\n${text.toString()}`
  );
}

async function inlineFile(out: StreamWriter, path: string, content: Buffer, mode = '100644'): Promise<void> {
  await out.write(`M ${mode} inline ${path}\ndata ${content.length}\n`);
  await out.write(content);
  await out.write('\n');
}

function readme(params: BigRepoParams): Buffer {
  return Buffer.from(
    `# big\n\nA generated repository for TeleCoder's cache benchmark: ${params.files} files at the tip, ` +
      `about ${params.historyMb} MB of history over ${params.commits} commits. Nothing to install.\n`,
  );
}

async function buildBigRepo(bareDir: string, params: BigRepoParams): Promise<void> {
  mkdirSync(bareDir, { recursive: true });
  await gitAsync(bareDir, ['init', '-q', '--bare', '-b', 'main']);
  const commits = Math.max(1, params.commits);
  // What the history must add beyond the tip, spread over the asset versions of commits 2..N.
  const tipPacked = params.files * AVERAGE_FILE_BYTES * BASE64_PACKED_RATIO;
  const rewritesPacked = (commits - 1) * REWRITES_PER_COMMIT * AVERAGE_FILE_BYTES * BASE64_PACKED_RATIO;
  const assetBytes = Math.max(
    1_024,
    Math.floor((params.historyMb * 1024 * 1024 - tipPacked - rewritesPacked) / Math.max(1, commits - 1)),
  );
  const sizeOf = () => Math.floor(AVERAGE_FILE_BYTES * (0.2 + 1.6 * Math.random()));

  await fastImport(bareDir, async (out) => {
    await out.write(commitHeader(0, `Import ${params.files} files`));
    await inlineFile(out, 'README.md', readme(params));
    await inlineFile(out, '.gitignore', Buffer.from('node_modules/\n'));
    for (let index = 0; index < params.files - 2; index++) {
      await inlineFile(out, sourcePath(index), randomText(`# file ${index} v0`, sizeOf()));
    }
    await out.write('\n');
    for (let commit = 1; commit < commits; commit++) {
      await out.write(commitHeader(commit, `Change ${commit}`));
      for (let i = 0; i < REWRITES_PER_COMMIT; i++) {
        const index = Math.floor(Math.random() * Math.max(1, params.files - 2));
        await inlineFile(out, sourcePath(index), randomText(`# file ${index} v${commit}`, sizeOf()));
      }
      await inlineFile(out, 'assets/snapshot.bin', randomBytes(assetBytes));
      await out.write('\n');
    }
  });
  // One pack with a bitmap, as a git host keeps it (a full clone can then reuse it as it is).
  await gitAsync(bareDir, ['-c', 'repack.writeBitmaps=true', '-c', 'gc.auto=0', 'gc', '--quiet']);
  writeFileSync(join(bareDir, 'description'), `telecoder bench: ${JSON.stringify(params)}\n`);
}

export async function ensureBigRepo(params: BigRepoParams = bigRepoParams()): Promise<GeneratedRepo> {
  const key = `big-v${GENERATOR_VERSION}-f${params.files}-h${params.historyMb}mb-c${params.commits}`;
  const entry = await cached(key, (dir) => buildBigRepo(join(dir, 'big.git'), params));
  const path = join(entry.dir, 'big.git');
  const [files, commits] = await Promise.all([
    gitAsync(path, ['ls-tree', '-r', '--name-only', 'main']).then((text) => text.split('\n').length),
    gitAsync(path, ['rev-list', '--count', 'main']).then(Number),
  ]);
  return { path, params, built: entry.built, buildMs: entry.buildMs, diskBytes: await diskBytes(path), tipFiles: files, commits };
}

export async function ensureTinyRepo(): Promise<GeneratedRepo> {
  const entry = await cached(`tiny-v${GENERATOR_VERSION}`, async (dir) => {
    const bare = join(dir, 'tiny.git');
    mkdirSync(bare, { recursive: true });
    await gitAsync(bare, ['init', '-q', '--bare', '-b', 'main']);
    await fastImport(bare, async (out) => {
      await out.write(commitHeader(0, 'initial'));
      await inlineFile(out, 'README.md', Buffer.from('# tiny\n'));
      await inlineFile(out, 'src/index.js', Buffer.from('export {};\n'));
      await out.write('\n');
    });
  });
  const path = join(entry.dir, 'tiny.git');
  return { path, params: {}, built: entry.built, buildMs: entry.buildMs, diskBytes: await diskBytes(path), tipFiles: 2, commits: 1 };
}

export function describeRepo(name: string, repo: GeneratedRepo): string {
  const made = repo.built ? `generated in ${(repo.buildMs / 1000).toFixed(1)} s` : 'found in the bench cache';
  return `${name}: ${repo.tipFiles} files at the tip, ${repo.commits} commits, ${formatBytes(repo.diskBytes)} on disk (${made}) — ${repo.path}`;
}

async function main(): Promise<void> {
  console.log(describeRepo('tiny', await ensureTinyRepo()));
  console.log(describeRepo('big', await ensureBigRepo()));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
