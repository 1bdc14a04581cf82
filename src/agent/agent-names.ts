/** The coding agents a session can run: the built-in loop, or a CLI inside the sandbox. */
export const CODING_AGENT_NAMES = ['builtin', 'claude-code', 'opencode', 'codex'] as const;
export type CodingAgentName = (typeof CODING_AGENT_NAMES)[number];

/** What TELECODER_CODING_AGENT and a session's `agent` accept: a name, or `auto`. */
export const CODING_AGENT_CHOICES = [...CODING_AGENT_NAMES, 'auto'] as const;
export type CodingAgentChoice = (typeof CODING_AGENT_CHOICES)[number];

export function isCodingAgentChoice(value: string): value is CodingAgentChoice {
  return (CODING_AGENT_CHOICES as readonly string[]).includes(value);
}

/**
 * `auto`: Claude Code with an Anthropic key, Codex with an OpenAI key, the built-in agent without
 * either — and the built-in agent when the chosen CLI is not in the sandbox image.
 */
export function resolveAgentChoice(
  choice: CodingAgentChoice,
  provider: 'anthropic' | 'openai' | undefined,
  installed: ReadonlySet<string> | undefined,
): CodingAgentName {
  if (choice !== 'auto') return choice;
  const pick = provider === 'anthropic' ? 'claude-code' : provider === 'openai' ? 'codex' : 'builtin';
  if (pick !== 'builtin' && installed && !installed.has(pick)) return 'builtin';
  return pick;
}
