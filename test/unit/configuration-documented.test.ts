import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_KEYS } from '../../src/config/config.js';

const ROOT = resolve(import.meta.dirname, '../..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

/** Variables the code reads outside the server's config schema, and who reads them. */
const READ_ELSEWHERE: Record<string, string> = {
  TELECODER_SERVER: 'the CLI',
  TELECODER_TIMEOUT: 'the CLI',
  TELECODER_TEST_IMAGE: 'the tests (test/helpers/sandbox-image.ts)',
  TELECODER_SCREENSHOTS: "the browser test, which writes the README's screenshots there (test/e2e/dashboard-browser.test.ts)",
  DOCKER_HOST: "Docker's own variable, read by the Docker client",
  VIRTUAL_ENV: "the sandbox's Python virtualenv, not the server's environment",
  TELECODER_DOMAIN: 'docker/compose.yml: the domain Caddy serves; TELECODER_PUBLIC_URL is made from it',
  TELECODER_SERVER_BASE_IMAGE: "docker/compose.yml: the server image's BASE_IMAGE build argument",
  DOCKER_GID: "docker/compose.yml: the Docker socket's group, given to the server's user",
  EXTRA_CA_CERTS: 'docker/compose.yml: a build argument of the server image (a proxy CA)',
  ANTHROPIC_AUTH_TOKEN: "Claude Code's own variable inside the sandbox, holding the session's gateway token (docs/agents.md)",
};
/** Read by the CLI: documented like the server's settings. */
const CLI_VARIABLES = ['TELECODER_SERVER', 'TELECODER_TIMEOUT'];
/** Still in the schema only to refuse them with a message; documented as gone, not as a setting to set. */
const REMOVED = ['TELECODER_DOCKER_NETWORK'];

const known = (name: string) => CONFIG_KEYS.includes(name) || name in READ_ELSEWHERE;
/** Names that look like TeleCoder's (or Probot's) settings, wherever they are mentioned. */
const SETTING_NAME = /\b(?:TELECODER|GITHUB|GHE|WEBHOOK|ANTHROPIC|OPENAI|LOG|APP|PRIVATE)_[A-Z0-9_]*[A-Z0-9]\b/g;

function readmeTableNames(): string[] {
  const readme = read('README.md');
  const section = readme.slice(readme.indexOf('\n## Configuration'), readme.indexOf('\n## ', readme.indexOf('\n## Configuration') + 1));
  const firstCells = section.split('\n').filter((line) => line.startsWith('| `')).map((line) => line.split('|')[1]!);
  return firstCells.flatMap((cell) => [...cell.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((match) => match[1]!));
}

function envExampleNames(): string[] {
  return [...read('.env.example').matchAll(/^(?:# ?)?([A-Z][A-Z0-9_]+)=/gm)].map((match) => match[1]!);
}

describe('the configuration is documented completely', () => {
  it("lists every variable the code reads in README's Configuration table", () => {
    const table = readmeTableNames();
    const missing = [...CONFIG_KEYS, ...CLI_VARIABLES].filter((name) => !table.includes(name));
    expect(missing, 'add a row to README "Configuration" for each').toEqual([]);
  });

  it('lists every variable the code reads in .env.example, removed ones only mentioned', () => {
    const example = read('.env.example');
    const assigned = envExampleNames();
    const missing = [...CONFIG_KEYS, ...CLI_VARIABLES].filter((name) => !REMOVED.includes(name) && !assigned.includes(name));
    expect(missing, 'add a "# NAME=default" line (and a note line above it) to .env.example for each').toEqual([]);
    for (const name of REMOVED) {
      expect(assigned, `${name} is gone: .env.example must not offer it`).not.toContain(name);
      expect(example).toContain(name);
    }
  });

  it('names no variable that nothing reads, in README, .env.example or docs/', () => {
    const files = ['README.md', '.env.example', ...readdirSync(join(ROOT, 'docs')).filter((file) => file.endsWith('.md')).map((file) => `docs/${file}`)];
    const unknown = files.flatMap((file) =>
      [...new Set(read(file).match(SETTING_NAME) ?? [])].filter((name) => !known(name)).map((name) => `${file}: ${name}`),
    );
    expect(unknown, 'a renamed or removed variable is still documented, or a new one is read outside src/config/config.ts').toEqual([]);
    // The table and .env.example name settings only; nothing outside the pattern above slips through.
    expect([...readmeTableNames(), ...envExampleNames()].filter((name) => !known(name))).toEqual([]);
  });

  it('reads no variable outside the schema but those listed above', () => {
    const sources = readdirSync(join(ROOT, 'src'), { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.ts'));
    const reads = sources.flatMap((file) =>
      [...read(join('src', file)).matchAll(/\b(?:env|settings)\??\.([A-Z][A-Z0-9_]+)\b|\benv\[['"]([A-Z][A-Z0-9_]+)['"]\]/g)].map(
        (match) => ({ file, name: (match[1] ?? match[2])! }),
      ),
    );
    expect(reads.length).toBeGreaterThan(0);
    expect(reads.filter(({ name }) => !known(name)).map(({ file, name }) => `src/${file}: ${name}`)).toEqual([]);
  });
});
