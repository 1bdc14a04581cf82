import { describe, expect, it } from 'vitest';
import { parseRepoConfig } from '../../src/github/parse-repo-config.js';

const defaults = { triggerLabel: 'telecoder', draft: false };

describe('parseRepoConfig', () => {
  it('has the defaults when there is no file or it is empty', () => {
    expect(parseRepoConfig(undefined)).toEqual({ config: defaults, warnings: [] });
    expect(parseRepoConfig(null)).toEqual({ config: defaults, warnings: [] });
    expect(parseRepoConfig({})).toEqual({ config: defaults, warnings: [] });
  });

  it('reads every valid setting', () => {
    const raw = {
      triggerLabel: ' agent ',
      baseBranch: 'release/2.x',
      draft: true,
      maxRevisions: 0,
      setupCommands: ['npm ci'],
      testCommands: 'npm test',
      instructions: 'Use pnpm. Never touch migrations.',
    };
    expect(parseRepoConfig(raw)).toEqual({
      config: {
        triggerLabel: 'agent',
        baseBranch: 'release/2.x',
        draft: true,
        maxRevisions: 0,
        setupCommands: ['npm ci'],
        testCommands: ['npm test'],
        instructions: 'Use pnpm. Never touch migrations.',
      },
      warnings: [],
    });
  });

  it('reads allowWorkflowChanges, and falls back to the server\'s setting on a value that is not true or false', () => {
    expect(parseRepoConfig({ allowWorkflowChanges: true })).toEqual({ config: { ...defaults, allowWorkflowChanges: true }, warnings: [] });
    const { config, warnings } = parseRepoConfig({ allowWorkflowChanges: 'yes' });
    expect(config).toEqual(defaults);
    expect(warnings).toEqual([
      ".github/telecoder.yml: `allowWorkflowChanges` must be true or false (got \"yes\"); using the server's default.",
    ]);
  });

  it('reads the agent a repository asks for, and ignores a name no server runs', () => {
    expect(parseRepoConfig({ agent: 'codex' })).toEqual({ config: { ...defaults, agent: 'codex' }, warnings: [] });
    const { config, warnings } = parseRepoConfig({ agent: 'aider' });
    expect(config).toEqual(defaults);
    expect(warnings.join('\n')).toMatch(/agent.*must be one of builtin, claude-code, opencode, codex, auto/);
  });

  it('treats a key with no value as absent', () => {
    expect(parseRepoConfig({ baseBranch: null, draft: null })).toEqual({ config: defaults, warnings: [] });
  });

  it('warns about each invalid value and keeps the default for it only', () => {
    const { config, warnings } = parseRepoConfig({
      triggerLabel: '',
      baseBranch: 'bad branch..name',
      draft: 'yes',
      maxRevisions: -1,
      setupCommands: ['npm ci', 7],
      testCommands: { run: 'npm test' },
      instructions: 'x'.repeat(10_001),
    });
    expect(config).toEqual(defaults);
    expect(warnings).toEqual([
      '.github/telecoder.yml: `triggerLabel` must not be empty (got ""); using the default ("telecoder").',
      '.github/telecoder.yml: `baseBranch` is not a valid git branch name (got "bad branch..name"); using the server\'s default.',
      '.github/telecoder.yml: `draft` must be true or false (got "yes"); using the default (false).',
      ".github/telecoder.yml: `maxRevisions` must be 0 or more (got -1); using the server's default.",
      ".github/telecoder.yml: `setupCommands` must hold only commands (text) (got a list); using the server's default.",
      '.github/telecoder.yml: `testCommands` must be a list of commands, like `testCommands: ["npm ci"]` (got a mapping); using the server\'s default.',
      ".github/telecoder.yml: `instructions` must be at most 10,000 characters; shorten it or point to a file in the repository (got \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…); using the server's default.",
    ]);
  });

  it('keeps the valid settings next to invalid ones', () => {
    const { config, warnings } = parseRepoConfig({ draft: true, maxRevisions: 2.5, triggerLabel: 'x'.repeat(51) });
    expect(config).toEqual({ triggerLabel: 'telecoder', draft: true });
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/`triggerLabel` must be at most 50 characters/);
    expect(warnings[1]).toMatch(/`maxRevisions` must be a whole number \(got 2\.5\)/);
  });

  it('bounds the command lists', () => {
    const { config, warnings } = parseRepoConfig({ setupCommands: Array.from({ length: 21 }, () => 'true'), testCommands: [' '] });
    expect(config).toEqual(defaults);
    expect(warnings[0]).toMatch(/`setupCommands` must hold at most 20 commands/);
    expect(warnings[1]).toMatch(/`testCommands` must not hold an empty command/);
  });

  it('warns about unknown keys, suggesting the one that was meant', () => {
    const { config, warnings } = parseRepoConfig({ trigger_label: 'agent', colour: 'blue', draft: true });
    expect(config).toEqual({ triggerLabel: 'telecoder', draft: true });
    expect(warnings).toEqual([
      '.github/telecoder.yml: unknown setting `trigger_label`; did you mean `triggerLabel`? It was ignored.',
      '.github/telecoder.yml: unknown setting `colour` was ignored; the settings are `triggerLabel`, `baseBranch`, `draft`, `maxRevisions`, `setupCommands`, `testCommands`, `instructions`, `allowWorkflowChanges`, `agent`.',
    ]);
  });

  it('never throws on a file that is not a mapping', () => {
    for (const raw of ['draft: true', 42, ['draft'], true]) {
      const { config, warnings } = parseRepoConfig(raw);
      expect(config).toEqual(defaults);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/^\.github\/telecoder\.yml must be a mapping of settings \(like `draft: true`\), not .+; using the defaults\.$/);
    }
  });

  it('returns a fresh config each time', () => {
    const first = parseRepoConfig({}).config;
    first.triggerLabel = 'changed';
    expect(parseRepoConfig({}).config.triggerLabel).toBe('telecoder');
  });
});
