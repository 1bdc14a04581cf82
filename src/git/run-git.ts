import { spawn } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { GIT_WALL_ARGS } from './git-walls.js';

/** Parent variables git needs to reach the network; everything else (all GIT_*) is dropped. */
const PASSED_THROUGH = [
  'PATH',
  'TMPDIR',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
  'http_proxy',
  'https_proxy',
  'no_proxy',
  'SYSTEMROOT',
];

const DEFAULT_TIMEOUT_MS = 10 * 60_000;
const MAX_CAPTURE_BYTES = 64 * 1024 * 1024;

export interface RunGitOptions {
  cwd?: string;
  /** Merged over the hardened environment (this is how a credential reaches git). */
  env?: Record<string, string>;
  input?: string | Buffer;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface RunGitResult {
  stdout: string;
  stderr: string;
}

export class GitError extends Error {
  readonly subcommand: string;
  /** null when git was killed (timeout, abort) or could not start. */
  readonly exitCode: number | null;
  readonly stderr: string;
  constructor(message: string, details: { subcommand: string; exitCode: number | null; stderr: string }) {
    super(message);
    this.name = 'GitError';
    this.subcommand = details.subcommand;
    this.exitCode = details.exitCode;
    this.stderr = details.stderr;
  }
}

let privateHome: string | undefined;

/**
 * An empty directory only this user can enter, used as HOME so git finds no ~/.gitconfig,
 * ~/.git-credentials or XDG config of whoever runs the server. One per user, reused across runs;
 * a directory someone else planted at that path is never trusted.
 */
export function gitHomeDir(): string {
  if (privateHome) return privateHome;
  const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
  const stable = join(tmpdir(), `telecoder-git-home-${uid ?? 'user'}`);
  try {
    mkdirSync(stable, { mode: 0o700 });
  } catch {
    // Already there (ours from an earlier run, or planted): checked below.
  }
  try {
    const stat = lstatSync(stable);
    if (stat.isDirectory() && (uid === undefined || stat.uid === uid) && (stat.mode & 0o077) === 0) {
      privateHome = stable;
      return stable;
    }
  } catch {
    // Fall through to a fresh directory.
  }
  privateHome = mkdtempSync(join(tmpdir(), 'telecoder-git-home-'));
  return privateHome;
}

/** The environment every server-side git process starts from. */
export function hardenedGitEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of PASSED_THROUGH) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  const home = gitHomeDir();
  return {
    ...env,
    HOME: home,
    XDG_CONFIG_HOME: home,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    // No askpass program at all: with prompts off, git fails at once instead of asking anyone.
    GCM_INTERACTIVE: 'never',
    // Stable English messages, which push uses to recognise a rejected non-fast-forward.
    LC_ALL: 'C',
    LANG: 'C',
  };
}

/**
 * Every secret an environment carries to git: the GIT_CONFIG_VALUE_n header and the parts of it
 * (base64 credentials, the decoded "user:token" and the token alone), so none can leak through
 * an error message even if git echoes a URL or header.
 */
export function secretsIn(env: Record<string, string> | undefined): string[] {
  const secrets = new Set<string>();
  for (const [key, value] of Object.entries(env ?? {})) {
    if (!/^GIT_CONFIG_VALUE_\d+$/.test(key) || value.length < 8) continue;
    secrets.add(value);
    const basic = /^\s*authorization:\s*(?:basic|bearer|token)\s+(\S+)\s*$/i.exec(value);
    const encoded = basic?.[1];
    if (!encoded) continue;
    secrets.add(encoded);
    const decoded = Buffer.from(encoded, 'base64').toString('utf8');
    if (decoded.length >= 8) secrets.add(decoded);
    const token = decoded.slice(decoded.indexOf(':') + 1);
    if (decoded.includes(':') && token.length >= 8) secrets.add(token);
  }
  return [...secrets].sort((a, b) => b.length - a.length);
}

export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join('[REDACTED]');
  // Credentials embedded in URLs (https://user:pass@host) never come from us, but git may echo one.
  return out.replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^/\s@]+@/gi, '$1[REDACTED]@');
}

function subcommandOf(args: readonly string[]): string {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '-c' || arg === '-C' || arg === '--git-dir' || arg === '--work-tree') {
      i++;
      continue;
    }
    if (!arg.startsWith('-')) return arg;
  }
  return args[0] ?? '';
}

/**
 * Runs git with argv (never a shell), a hardened environment and config, a timeout, and stdin
 * when given. Rejects with a GitError naming the subcommand and carrying git's stderr, with any
 * credential from `env` redacted.
 */
export function runGit(args: string[], options: RunGitOptions = {}): Promise<RunGitResult> {
  const subcommand = subcommandOf(args);
  const secrets = secretsIn(options.env);
  // The walls (git-walls.ts) come first on every command line: they outrank the clone's config.
  const argv = [...GIT_WALL_ARGS, ...args];
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  return new Promise<RunGitResult>((resolve, reject) => {
    const fail = (message: string, exitCode: number | null, stderr: string) => {
      const clean = redact(stderr.trim(), secrets);
      reject(
        new GitError(redact(`git ${subcommand} ${message}${clean ? `: ${clean}` : ''}`, secrets), {
          subcommand,
          exitCode,
          stderr: clean,
        }),
      );
    };
    if (options.signal?.aborted) {
      fail('was not started: the operation was aborted', null, '');
      return;
    }

    // Without a cwd, git runs in the private empty HOME and may not look above it: it must never
    // pick up a repository (and its config) from wherever the server was started.
    const home = gitHomeDir();
    const cwdEnv: Record<string, string> = options.cwd === undefined ? { GIT_CEILING_DIRECTORIES: dirname(home) } : {};
    const child = spawn('git', argv, {
      cwd: options.cwd ?? home,
      env: { ...hardenedGitEnv(), ...cwdEnv, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      windowsHide: true,
      // Its own process group, so that a kill reaches the helpers git starts (see `kill`).
      detached: process.platform !== 'win32',
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let captured = 0;
    let overflow = false;
    let killedBecause: string | undefined;
    const kill = (reason: string) => {
      if (killedBecause) return;
      killedBecause = reason;
      // git runs helpers (git-remote-http for a fetch or push, pack-objects) that hold its output
      // pipes. Killing git alone leaves one waiting on a hung server with the pipes open: 'close'
      // never comes, and a stopped session or a shutdown waits forever. Kill the whole group.
      const group = process.platform !== 'win32' ? child.pid : undefined;
      try {
        if (group !== undefined) process.kill(-group, 'SIGKILL');
        else child.kill('SIGKILL');
      } catch {
        // The group is gone already (ESRCH); make sure git itself is too.
        child.kill('SIGKILL');
      }
    };
    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      captured += chunk.length;
      if (captured > MAX_CAPTURE_BYTES) {
        overflow = true;
        kill(`produced more than ${MAX_CAPTURE_BYTES} bytes of output`);
        return;
      }
      into.push(chunk);
    };
    child.stdout.on('data', collect(stdout));
    child.stderr.on('data', collect(stderr));

    const timer = setTimeout(() => kill(`timed out after ${Math.round(timeoutMs / 1000)} s`), timeoutMs);
    const onAbort = () => kill('was aborted');
    options.signal?.addEventListener('abort', onAbort, { once: true });

    // git may exit before reading all of stdin (e.g. a patch it rejects early); that is not our error.
    child.stdin.on('error', () => undefined);
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();

    child.on('error', (error) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      const hint = (error as NodeJS.ErrnoException).code === 'ENOENT' ? ' (is git installed and on PATH?)' : '';
      fail(`could not start${hint}`, null, error.message);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      const err = Buffer.concat(stderr).toString('utf8');
      if (killedBecause || overflow) {
        fail(killedBecause ?? 'was killed', null, err);
        return;
      }
      if (code !== 0) {
        fail(`failed (exit ${code})`, code, err);
        return;
      }
      resolve({ stdout: Buffer.concat(stdout).toString('utf8'), stderr: redact(err, secrets) });
    });
  });
}
