/**
 * The README's quick start, walked as a new user walks it: its commands, in its order, run by
 * bash on a fresh copy of the repository (`npm ci` included), with nothing of this machine's
 * configuration in the environment. Only what the quick start itself does can give the server
 * its LLM key and its GitHub token, so a quick start that starts the server before the keys are
 * set fails here. What stands in for the outside world: a scripted LLM (ANTHROPIC_BASE_URL),
 * GitHub stand-ins (GITHUB_API_URL, TELECODER_GIT_URL), the test sandbox image, no egress.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { instanceIdOf, removeInstanceResources } from '../helpers/docker-leftovers.js';
import { git, makeRepo } from '../helpers/git-fixtures.js';
import { startGitHubStandIns, type GitHubStandIns } from '../helpers/github-stand-ins.js';
import { readmeCommands } from '../helpers/readme-commands.js';
import { ensureTestImage, TEST_BASE_IMAGE } from '../helpers/sandbox-image.js';
import { startScriptedLLM, type ScriptedLLM } from '../helpers/scripted-llm-server.js';

const execFileAsync = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
/** The quick start's placeholders and what the walk types in their place. */
const PLACEHOLDERS: Record<string, string> = {
  'sk-ant-...': 'sk-ant-quickstart-KEY-0123456789',
  'ghp_...': 'ghp_quickstartTOKEN0123456789',
  'owner/name': 'acme/widgets',
};
/** Where the README says the server listens. */
const SERVER = 'http://127.0.0.1:7080';
const LONG_RUNNING = /^(telecoder serve|npm start)\b/;

/** The repository as a fresh clone has it: tracked files and new ones git would commit, nothing ignored. */
function freshCopy(target: string): void {
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' })
    .split('\0')
    .filter(Boolean);
  for (const file of files) {
    mkdirSync(dirname(join(target, file)), { recursive: true });
    try {
      cpSync(join(ROOT, file), join(target, file), { dereference: false });
    } catch (error) {
      // A file deleted in the working tree but still in the index is not in a fresh clone either.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const probe = createServer().once('error', () => done(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => done(true)));
  });
}

/** This machine's proxy and CA settings, which `npm ci` needs here and a user's machine has too. */
function networkEnv(): NodeJS.ProcessEnv {
  const pass = /^(https?_proxy|no_proxy|node_extra_ca_certs|ssl_cert_file|npm_config_(cache|registry|cafile|proxy|https_proxy|strict_ssl))$/i;
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => pass.test(name)));
}

describe('the README quick start, from a fresh copy to the first PR', () => {
  let tmp: string;
  let llm: ScriptedLLM;
  let standIns: GitHubStandIns;
  let image: string;
  const background: ChildProcess[] = [];
  let home: string;

  beforeAll(async () => {
    image = await ensureTestImage();
    tmp = mkdtempSync(join(tmpdir(), 'telecoder-quick-start-'));
    standIns = await startGitHubStandIns({ dir: tmp });
  }, 900_000);

  afterAll(async () => {
    for (const child of background) {
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(-child.pid!, 'SIGTERM');
        await new Promise((done) => child.once('exit', done));
      }
    }
    try {
      removeInstanceResources(instanceIdOf(join(home, '.telecoder')));
    } catch {
      // The server never created its database: it left nothing on Docker either.
    }
    await llm?.close();
    await standIns?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('sets the keys before the server starts, answers a question on a local repository and opens a PR on GitHub', async () => {
    const commands = readmeCommands(join(ROOT, 'README.md'), 'Quick start');
    for (const placeholder of Object.keys(PLACEHOLDERS)) {
      expect(commands.some((command) => command.includes(placeholder)), `the quick start no longer uses ${placeholder}`).toBe(true);
    }
    expect(await portIsFree(7080), 'the quick start serves on 127.0.0.1:7080, which something else holds').toBe(true);

    llm = await startScriptedLLM([
      { toolCalls: [{ name: 'finish', arguments: { summary: 'The configuration is read from config.json by loadConfig().' } }] },
      { toolCalls: [{ name: 'write_file', arguments: { path: 'health.js', content: "export const health = () => 'ok';\n" } }] },
      { toolCalls: [{ name: 'finish', arguments: { summary: 'added a health check' } }] },
    ]);
    home = join(tmp, 'home');
    const checkout = join(tmp, 'telecoder');
    freshCopy(checkout);
    const prefix = join(tmp, 'npm-global');
    // The user's own project, where the second block is run: a repository with a lockfile and tests.
    makeRepo(join(home, 'code', 'my-project'), {
      'package.json': JSON.stringify({ name: 'my-project', version: '1.0.0', type: 'module', scripts: { test: 'node --test' } }, null, 2),
      'package-lock.json': JSON.stringify({ name: 'my-project', version: '1.0.0', lockfileVersion: 3, requires: true, packages: { '': { name: 'my-project', version: '1.0.0' } } }, null, 2),
      'config.json': '{ "port": 8080 }\n',
      'src/config.js': "import { readFileSync } from 'node:fs';\nexport const loadConfig = () => JSON.parse(readFileSync('config.json', 'utf8'));\n",
      'test/config.test.js': "import test from 'node:test';\ntest('loads', () => {});\n",
    });

    const env: NodeJS.ProcessEnv = {
      PATH: `${join(prefix, 'bin')}:${process.env.PATH}`,
      HOME: home,
      LANG: 'C.UTF-8',
      npm_config_prefix: prefix,
      // This machine's npm settings (its CA file, where node-gyp finds Node's headers) and cache,
      // as a user's machine has its own; the walk's HOME is empty.
      npm_config_userconfig: process.env.npm_config_userconfig ?? join(homedir(), '.npmrc'),
      npm_config_cache: process.env.npm_config_cache ?? join(homedir(), '.npm'),
      ...networkEnv(),
      // The stand-ins for the outside world and this machine's sandbox image; no key, no token.
      ANTHROPIC_BASE_URL: llm.url,
      ...standIns.env,
      TELECODER_DOCKER_IMAGE: image,
      TELECODER_SANDBOX_BASE_IMAGE: TEST_BASE_IMAGE,
      TELECODER_EGRESS: 'none',
      TELECODER_STAGES: 'code',
      TELECODER_SANDBOX_MEMORY: '1gb',
      TELECODER_SANDBOX_CPUS: '1',
    };
    mkdirSync(home, { recursive: true });
    mkdirSync(prefix, { recursive: true });

    let cwd = checkout;
    const transcript: string[] = [];
    for (const written of commands) {
      const command = Object.entries(PLACEHOLDERS).reduce((line, [placeholder, value]) => line.split(placeholder).join(value), written);
      transcript.push(`$ ${command}`);
      const cd = /^cd\s+(\S+)$/.exec(command);
      if (cd) {
        cwd = resolve(cwd, cd[1]!.replace(/^~(?=\/|$)/, home));
        continue;
      }
      if (LONG_RUNNING.test(command)) {
        const server = spawn('bash', ['-c', command], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
        background.push(server);
        let output = '';
        server.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
        server.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
        const deadline = Date.now() + 60_000;
        while (!(await fetch(`${SERVER}/health`).then((response) => response.ok, () => false))) {
          if (server.exitCode !== null || Date.now() > deadline) throw new Error(`\`${command}\` did not serve ${SERVER}:\n${output}`);
          await new Promise((done) => setTimeout(done, 200));
        }
        transcript.push(output);
        continue;
      }
      try {
        // Not execFileSync: the scripted LLM and the stand-ins answer from this very process.
        const { stdout } = await execFileAsync('bash', ['-c', `${command} 2>&1`], { cwd, env, encoding: 'utf8', timeout: 300_000, maxBuffer: 64 * 1024 * 1024 });
        transcript.push(stdout);
      } catch (error) {
        const failed = error as { code?: number; stdout?: string };
        throw new Error(`the quick start failed at \`${command}\` (exit ${failed.code}):\n${failed.stdout ?? ''}\n--- transcript ---\n${transcript.join('\n').slice(-8000)}`);
      }
    }

    const said = transcript.join('\n');
    expect(said).toContain('The configuration is read from config.json by loadConfig().');
    expect(said).toMatch(/PR ready: https:\/\/github\.com\/acme\/widgets\/pull\/1/);
    // The key the quick start set is the one the server used.
    expect(llm.requests.map((request) => request.headers.authorization)).toEqual(Array(3).fill(`Bearer ${PLACEHOLDERS['sk-ant-...']}`));
    expect(standIns.github.pulls).toHaveLength(1);
    expect(git(standIns.bare, 'show', `${standIns.github.pulls[0]!.head}:health.js`)).toBe("export const health = () => 'ok';");
  }, 900_000);
});
