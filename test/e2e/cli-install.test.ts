import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/server/package-root.js';
import { startApiTestServer, type ApiTestServer } from '../helpers/api-test-server.js';
import { git } from '../helpers/git-fixtures.js';

const run = promisify(execFile);

describe('`npm install -g <checkout>` puts a working `telecoder` on the PATH', () => {
  let dir: string;
  let server: ApiTestServer;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'telecoder-install-'));
    server = await startApiTestServer({
      onSubmit: (session, service) => setTimeout(() => service.finish(session.id, 'complete', { result: { type: 'text', content: 'It is an app.' } }), 20),
    });
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs from any directory, and sends --repo ./path resolved against that directory', async () => {
    const prefix = join(dir, 'prefix');
    // What README's CLI section says to run (a global install of the checkout links it). No
    // scripts: the checkout is already built, and a test must not rebuild dist/ under others.
    await run('npm', ['install', '--global', '--prefix', prefix, '--ignore-scripts', '--no-audit', '--no-fund', packageRoot()], {
      cwd: dir,
      env: { ...process.env, npm_config_loglevel: 'error' },
    });
    const project = join(dir, 'project');
    mkdirSync(join(project, 'app'), { recursive: true });
    git(join(project, 'app'), 'init', '-q');
    const env = { PATH: `${join(prefix, 'bin')}:${process.env.PATH ?? ''}`, HOME: dir, TELECODER_SERVER: server.url };

    const version = await run('telecoder', ['--version'], { cwd: project, env });
    expect(version.stdout).toBe(`${JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')).version}\n`);

    const answered = await run('telecoder', ['run', 'explain the app', '--repo', './app'], { cwd: project, env });
    expect(answered.stdout).toMatch(/It is an app\.\n$/);
    expect(server.service.lastRequest?.repo).toBe(join(project, 'app'));
  }, 120_000);
});
