import { z } from 'zod';
import { CODING_AGENT_CHOICES, type CodingAgentChoice } from '../agent/agent-names.js';

/** Where a repository configures TeleCoder (read by Probot's `context.config('telecoder.yml')`). */
export const REPO_CONFIG_PATH = '.github/telecoder.yml';

export interface RepoConfig {
  /** The issue label that asks TeleCoder to work. */
  triggerLabel: string;
  /** Branch pull requests are based on; the repository's default branch when absent. */
  baseBranch?: string;
  /** Open pull requests as drafts. */
  draft: boolean;
  /** Review/revision rounds; the server's TELECODER_MAX_REVISIONS when absent. */
  maxRevisions?: number;
  /** Commands run in the sandbox before the agent starts (install dependencies, …). */
  setupCommands?: string[];
  /** Commands that check the work (the agent is told to run them; a pipeline may verify with them). */
  testCommands?: string[];
  /** Standing instructions for the agent in this repository. */
  instructions?: string;
  /**
   * Push the agent's changes to .github/workflows/ and .github/actions/ (held back otherwise,
   * unless the server sets TELECODER_ALLOW_WORKFLOW_CHANGES).
   */
  allowWorkflowChanges?: boolean;
  /** The coding agent for this repository's sessions (builtin, claude-code, opencode, codex, auto). */
  agent?: CodingAgentChoice;
}

export const DEFAULT_REPO_CONFIG: Readonly<RepoConfig> = Object.freeze({ triggerLabel: 'telecoder', draft: false });

export const REPO_CONFIG_LIMITS = { instructions: 10_000, commands: 20, commandLength: 1_000, label: 50 } as const;

const commandList = (key: string) =>
  z
    .union([z.string().transform((command) => [command]), z.array(z.unknown())], {
      error: `must be a list of commands, like \`${key}: ["npm ci"]\``,
    })
    .pipe(
      z
        .array(
          z
            .string({ error: 'must hold only commands (text)' })
            .trim()
            .min(1, { error: 'must not hold an empty command' })
            .max(REPO_CONFIG_LIMITS.commandLength, {
              error: `must not hold a command longer than ${REPO_CONFIG_LIMITS.commandLength.toLocaleString('en-US')} characters`,
            }),
        )
        .max(REPO_CONFIG_LIMITS.commands, { error: `must hold at most ${REPO_CONFIG_LIMITS.commands} commands` }),
    );

/** One schema per key, so one bad value costs only that key. */
const FIELDS = {
  triggerLabel: z
    .string({ error: 'must be a label name, like `triggerLabel: telecoder`' })
    .trim()
    .min(1, { error: 'must not be empty' })
    .max(REPO_CONFIG_LIMITS.label, { error: `must be at most ${REPO_CONFIG_LIMITS.label} characters (GitHub's limit for labels)` }),
  baseBranch: z
    .string({ error: 'must be a branch name, like `baseBranch: main`' })
    .trim()
    .min(1, { error: 'must not be empty' })
    .max(255, { error: 'must be at most 255 characters' })
    .refine((name) => /^(?!-)(?!.*\.\.)(?!.*\/\/)(?!.*@\{)(?!\/)(?!.*\/$)(?!.*\.lock$)(?!.*\.$)[^\s~^:?*[\\\x00-\x1f\x7f]+$/.test(name), {
      error: 'is not a valid git branch name',
    }),
  draft: z.boolean({ error: 'must be true or false' }),
  maxRevisions: z.int({ error: 'must be a whole number' }).min(0, { error: 'must be 0 or more' }),
  setupCommands: commandList('setupCommands'),
  testCommands: commandList('testCommands'),
  instructions: z
    .string({ error: 'must be text' })
    .trim()
    .max(REPO_CONFIG_LIMITS.instructions, {
      error: `must be at most ${REPO_CONFIG_LIMITS.instructions.toLocaleString('en-US')} characters; shorten it or point to a file in the repository`,
    }),
  allowWorkflowChanges: z.boolean({ error: 'must be true or false' }),
  agent: z.enum(CODING_AGENT_CHOICES, { error: `must be one of ${CODING_AGENT_CHOICES.join(', ')}` }),
} satisfies Record<keyof RepoConfig, z.ZodType>;

const KNOWN_KEYS = Object.keys(FIELDS) as (keyof RepoConfig)[];
const squash = (key: string) => key.toLowerCase().replace(/[-_\s]/g, '');

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

/**
 * Reads `.github/telecoder.yml` (already parsed from YAML). Never throws: a broken file must not
 * stop TeleCoder, so every problem becomes a warning for the user and the setting falls back to
 * its default.
 */
export function parseRepoConfig(raw: unknown): { config: RepoConfig; warnings: string[] } {
  const config: RepoConfig = { ...DEFAULT_REPO_CONFIG };
  const warnings: string[] = [];
  // No file (or an empty one) is the normal case.
  if (raw === undefined || raw === null) return { config, warnings };
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    warnings.push(`${REPO_CONFIG_PATH} must be a mapping of settings (like \`draft: true\`), not ${describe(raw)}; using the defaults.`);
    return { config, warnings };
  }

  const entries = raw as Record<string, unknown>;
  for (const key of Object.keys(entries)) {
    if ((KNOWN_KEYS as string[]).includes(key)) continue;
    const meant = KNOWN_KEYS.find((known) => squash(known) === squash(key));
    warnings.push(
      meant
        ? `${REPO_CONFIG_PATH}: unknown setting \`${key}\`; did you mean \`${meant}\`? It was ignored.`
        : `${REPO_CONFIG_PATH}: unknown setting \`${key}\` was ignored; the settings are ${KNOWN_KEYS.map((k) => `\`${k}\``).join(', ')}.`,
    );
  }

  for (const key of KNOWN_KEYS) {
    const value = entries[key];
    // A key written with no value (`baseBranch:`) is YAML null: the same as leaving it out.
    if (value === undefined || value === null) continue;
    const parsed = FIELDS[key].safeParse(value);
    if (!parsed.success) {
      const fallback = key in DEFAULT_REPO_CONFIG ? `using the default (${JSON.stringify(DEFAULT_REPO_CONFIG[key])})` : "using the server's default";
      warnings.push(`${REPO_CONFIG_PATH}: \`${key}\` ${parsed.error.issues[0]?.message ?? 'is invalid'} (got ${describe(value)}); ${fallback}.`);
      continue;
    }
    // Each schema's output type is the type of its key.
    (config as unknown as Record<string, unknown>)[key] = parsed.data;
  }
  if (config.instructions === '') delete config.instructions;
  return { config, warnings };
}
