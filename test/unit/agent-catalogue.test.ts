import { describe, expect, it } from 'vitest';
import { AgentCatalogue } from '../../src/agent/agent-catalogue.js';
import type { CodingAgent } from '../../src/agent/coding-agent.js';
import { loadConfig } from '../../src/config/config.js';
import { TeleCoderError } from '../../src/errors.js';

const agent = (name: string): CodingAgent => ({ name, run: () => Promise.reject(new Error('not run here')) });
const ALL = ['builtin', 'claude-code', 'opencode', 'codex'].map(agent);

function catalogue(defaultChoice: string, provider: 'anthropic' | 'openai' | undefined, agents = ALL) {
  return new AgentCatalogue({ agents, defaultChoice, provider: () => provider });
}

describe('AgentCatalogue', () => {
  it('auto picks Claude Code with an Anthropic key, Codex with an OpenAI key, else the built-in agent', () => {
    expect(catalogue('auto', 'anthropic').resolve(undefined)).toBe('claude-code');
    expect(catalogue('auto', 'openai').resolve(undefined)).toBe('codex');
    expect(catalogue('auto', undefined).resolve(undefined)).toBe('builtin');
    expect(catalogue('builtin', 'openai').resolve('auto')).toBe('codex');
  });

  it('a session may name an agent other than the default; the default fills in otherwise', () => {
    const agents = catalogue('builtin', 'anthropic');
    expect(agents.resolve('opencode')).toBe('opencode');
    expect(agents.resolve(undefined)).toBe('builtin');
    expect(agents.resolve('  ')).toBe('builtin');
    expect(agents.agentFor('codex').name).toBe('codex');
  });

  it('refuses an unknown agent with a 400 naming the ones it runs', () => {
    const attempt = () => catalogue('builtin', 'anthropic').resolve('aider');
    expect(attempt).toThrow(TeleCoderError);
    expect(attempt).toThrow(/unknown agent "aider": this server runs "builtin", "claude-code", "opencode", "codex", "auto"/);
    try {
      attempt();
    } catch (error) {
      expect((error as TeleCoderError).status).toBe(400);
    }
  });

  it('refuses with a 503 an agent that needs a key the server lacks, and auto passes it over', () => {
    const keyless: CodingAgent = { ...agent('codex'), unavailableReason: () => 'the codex agent needs OPENAI_API_KEY on the server' };
    const agents = catalogue('builtin', 'openai', [agent('builtin'), keyless]);
    expect(() => agents.resolve('codex')).toThrow(/needs OPENAI_API_KEY/);
    try {
      agents.resolve('codex');
    } catch (error) {
      expect((error as TeleCoderError).status).toBe(503);
    }
    expect(agents.resolve('auto')).toBe('builtin');
  });

  it('refuses a known agent this server does not run (a custom agent replaced them)', () => {
    const custom = catalogue('mine', 'anthropic', [agent('mine')]);
    expect(() => custom.resolve('codex')).toThrow(/agent "codex" is not available on this server; it runs "mine"/);
    expect(custom.resolve(undefined)).toBe('mine');
    expect(custom.resolve('auto')).toBe('mine');
  });
});

describe('TELECODER_CODING_AGENT', () => {
  it('takes every agent and auto, and refuses anything else naming the choices', () => {
    for (const name of ['builtin', 'claude-code', 'opencode', 'codex', 'auto']) {
      expect(loadConfig({ TELECODER_CODING_AGENT: name }).agent.name).toBe(name);
    }
    expect(() => loadConfig({ TELECODER_CODING_AGENT: 'aider' })).toThrow(/"builtin", "claude-code", "opencode", "codex", "auto"/);
  });

  it('TELECODER_ALLOWED_MODELS is a comma list', () => {
    expect(loadConfig({ TELECODER_ALLOWED_MODELS: 'claude-sonnet-4-6, gpt-4.1' }).llm.allowedModels).toEqual(['claude-sonnet-4-6', 'gpt-4.1']);
    expect(loadConfig({}).llm.allowedModels).toEqual([]);
  });
});
