import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CLI_BIN, runCli } from '../helpers/cli-process.js';
import { instanceIdOf, removeInstanceResources } from '../helpers/docker-leftovers.js';
import { startServerProcess } from '../helpers/server-process.js';

let dir: string;
let dataDir: string;
let configFile: string;
const env = () => ({ TELECODER_DATA_DIR: dataDir });

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'telecoder-cli-config-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  // Each test starts without a data dir: the CLI must make it.
  rmSync(join(dir, 'data'), { recursive: true, force: true });
  rmSync(join(dir, '.env'), { force: true });
});
beforeAll(() => {
  dataDir = join(dir, 'data');
  configFile = join(dataDir, 'config.env');
});

const saved = () => parseEnv(readFileSync(configFile, 'utf8'));

describe('telecoder config set / unset / show / path', () => {
  it('writes KEY=value lines to <data dir>/config.env, readable by the user only, and shows secrets masked', async () => {
    expect((await runCli(['config', 'path'], { cwd: dir, env: env() })).stdout).toBe(`${configFile}\n`);

    const set = await runCli(['config', 'set', 'ANTHROPIC_API_KEY', "sk-ant-a'b\"c-0123456789wxyz"], { cwd: dir, env: env() });
    expect(set.stderr).toBe('');
    expect(set.code).toBe(0);
    expect((await runCli(['config', 'set', 'TELECODER_MAX_CONCURRENT', '3'], { cwd: dir, env: env() })).code).toBe(0);
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    expect(statSync(configFile).mode & 0o777).toBe(0o600);
    expect(saved()).toEqual({ ANTHROPIC_API_KEY: "sk-ant-a'b\"c-0123456789wxyz", TELECODER_MAX_CONCURRENT: '3' });

    // A second set replaces the line and keeps the others, comments included.
    writeFileSync(configFile, `# mine\n${readFileSync(configFile, 'utf8')}`);
    expect((await runCli(['config', 'set', 'TELECODER_MAX_CONCURRENT', '4'], { cwd: dir, env: env() })).code).toBe(0);
    expect(readFileSync(configFile, 'utf8')).toMatch(/^# mine\n/);
    expect(saved().TELECODER_MAX_CONCURRENT).toBe('4');

    const show = await runCli(['config', 'show'], { cwd: dir, env: { ...env(), TELECODER_MAX_CONCURRENT: '1' } });
    expect(show.code).toBe(0);
    expect(show.stdout).toBe(
      `# ${configFile}\nANTHROPIC_API_KEY=****wxyz\nTELECODER_MAX_CONCURRENT=4   # not used: the environment or ./.env sets it\n`,
    );

    expect((await runCli(['config', 'unset', 'TELECODER_MAX_CONCURRENT'], { cwd: dir, env: env() })).code).toBe(0);
    expect(saved()).toEqual({ ANTHROPIC_API_KEY: "sk-ant-a'b\"c-0123456789wxyz" });
  });

  it('refuses a key that is not a setting, naming the close ones, and a value the server would refuse', async () => {
    const typo = await runCli(['config', 'set', 'ANTHROPIC_KEY', 'x'], { cwd: dir, env: env() });
    expect(typo.code).toBe(2);
    expect(typo.stderr).toBe(
      'telecoder: ANTHROPIC_KEY is not a TeleCoder setting; did you mean ANTHROPIC_API_KEY? (`telecoder config set --help` lists them all)\n',
    );
    const partial = await runCli(['config', 'set', 'api_token', 'x'], { cwd: dir, env: env() });
    expect(partial.stderr).toMatch(/api_token is not a TeleCoder setting; did you mean TELECODER_API_TOKEN\?/);
    const value = await runCli(['config', 'set', 'TELECODER_SANDBOX_TIMEOUT', 'forever'], { cwd: dir, env: env() });
    expect(value.code).toBe(2);
    expect(value.stderr).toBe('telecoder: TELECODER_SANDBOX_TIMEOUT must be a duration like 90s, 10m or 1h (got "forever")\n');
    const server = await runCli(['config', 'set', 'TELECODER_SERVER', 'ftp://x'], { cwd: dir, env: env() });
    expect(server.stderr).toMatch(/TELECODER_SERVER expects the server's URL/);
    const dataDirKey = await runCli(['config', 'set', 'TELECODER_DATA_DIR', '/x'], { cwd: dir, env: env() });
    expect(dataDirKey.stderr).toMatch(/TELECODER_DATA_DIR cannot be set in the config file/);
    expect(existsSync(configFile)).toBe(false);
  });
});

describe('telecoder config setup', () => {
  it('asks for the provider, its key, GITHUB_TOKEN and the API token, and saves them; Enter keeps what is saved', async () => {
    const first = await runCli(['config', 'setup'], { cwd: dir, env: env(), input: 'openai\nsk-openai-0123456789\nghp_0123456789abcd\ngenerate\n' });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const values = saved();
    expect(values).toMatchObject({ TELECODER_LLM_PROVIDER: 'openai', OPENAI_API_KEY: 'sk-openai-0123456789', GITHUB_TOKEN: 'ghp_0123456789abcd' });
    expect(values.TELECODER_API_TOKEN).toMatch(/^[\w-]{32}$/);
    expect(first.stdout).toMatch(/LLM provider, anthropic or openai \[anthropic\]: /);
    expect(statSync(configFile).mode & 0o777).toBe(0o600);

    const again = await runCli(['config', 'setup'], { cwd: dir, env: env(), input: '\n\n\n\n' });
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/OPENAI_API_KEY \[\*\*\*\*6789; Enter keeps it\]: /);
    expect(saved()).toEqual(values);
  });

  it('writes nothing when the input ends half-way, and says so', async () => {
    const cut = await runCli(['config', 'setup'], { cwd: dir, env: env(), input: 'anthropic\nsk-ant-0123456789\n' });
    expect(cut.code).toBe(1);
    expect(cut.stderr).toBe(`telecoder: setup ended before it was finished; nothing was written to ${configFile}. Run \`telecoder config setup\` again\n`);
    expect(existsSync(configFile)).toBe(false);
  });
});

describe('the config file comes after the environment and ./.env', () => {
  let server: Server;
  let url: string;
  const seen: Array<string | undefined> = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(200, { 'content-type': 'application/json' }).end('[]');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  it('the CLI takes TELECODER_SERVER and TELECODER_API_TOKEN from it when nothing else sets them', async () => {
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(configFile, `TELECODER_SERVER=${url}\nTELECODER_API_TOKEN=from-file\n`);
    seen.length = 0;
    expect((await runCli(['list'], { cwd: dir, env: env() })).code).toBe(0);
    writeFileSync(join(dir, '.env'), 'TELECODER_API_TOKEN=from-dotenv\n');
    expect((await runCli(['list'], { cwd: dir, env: env() })).code).toBe(0);
    expect((await runCli(['list'], { cwd: dir, env: { ...env(), TELECODER_API_TOKEN: 'from-env' } })).code).toBe(0);
    expect(seen).toEqual(['Bearer from-file', 'Bearer from-dotenv', 'Bearer from-env']);
  });

  it('serve reads it without overriding the environment or ./.env', async () => {
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(configFile, 'TELECODER_API_TOKEN=from-file\nLOG_LEVEL=warn\n');
    const base = { PATH: process.env.PATH ?? '', HOME: dir, TELECODER_DATA_DIR: dataDir };
    const answers = async (serverEnv: NodeJS.ProcessEnv) => {
      const started = await startServerProcess({ cli: CLI_BIN, env: serverEnv, cwd: dir });
      try {
        const status = async (token: string) =>
          (await fetch(`${started.url}/api/sessions`, { headers: { Authorization: `Bearer ${token}` } })).status;
        return { file: await status('from-file'), dotenv: await status('from-dotenv'), env: await status('from-env') };
      } finally {
        started.child.kill('SIGTERM');
        await started.exited;
        if (existsSync(join(dataDir, 'telecoder.db'))) removeInstanceResources(instanceIdOf(dataDir));
      }
    };
    expect(await answers(base)).toEqual({ file: 200, dotenv: 401, env: 401 });
    expect(await answers({ ...base, TELECODER_API_TOKEN: 'from-env' })).toEqual({ file: 401, dotenv: 401, env: 200 });
    writeFileSync(join(dir, '.env'), 'TELECODER_API_TOKEN=from-dotenv\n');
    expect(await answers(base)).toEqual({ file: 401, dotenv: 200, env: 401 });
  }, 120_000);
});
