import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/server/package-root.js';

/** The built CLI, run as a user runs it: from their own project directory. */
function telecoder(args: string[], options: { cwd: string; env?: Record<string, string> }): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { PATH: process.env.PATH ?? '', HOME: options.cwd, ...options.env };
  return new Promise((resolve) => {
    execFile(process.execPath, [join(packageRoot(), 'bin', 'telecoder.js'), ...args], { cwd: options.cwd, env }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('the CLI reads TELECODER_SERVER and TELECODER_API_TOKEN from .env in its directory', () => {
  let server: Server;
  let url: string;
  let project: string;
  const seen: Array<{ authorization: string | undefined; server: string }> = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push({ authorization: req.headers.authorization, server: `http://${req.headers.host}` });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('[]');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    project = mkdtempSync(join(tmpdir(), 'telecoder-cli-dotenv-'));
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    rmSync(project, { recursive: true, force: true });
  });

  it('uses the values in ./.env when the environment has none', async () => {
    writeFileSync(join(project, '.env'), `# the user's project settings\nTELECODER_SERVER=${url}\nTELECODER_API_TOKEN="from-dotenv"\n`);
    seen.length = 0;
    const result = await telecoder(['list'], { cwd: project });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(seen).toEqual([{ authorization: 'Bearer from-dotenv', server: url }]);
  });

  it('lets the environment win over ./.env', async () => {
    writeFileSync(join(project, '.env'), 'TELECODER_SERVER=http://127.0.0.1:9\nTELECODER_API_TOKEN=from-dotenv\n');
    seen.length = 0;
    const result = await telecoder(['list'], { cwd: project, env: { TELECODER_SERVER: url, TELECODER_API_TOKEN: 'from-env' } });
    expect(result.code).toBe(0);
    expect(seen).toEqual([{ authorization: 'Bearer from-env', server: url }]);
  });
});
