/**
 * The pipeline's prompts live as Markdown templates in src/pipeline/prompts/, one per stage.
 * `{{name}}` is replaced by a trusted value as is; `{{untrusted:name}}` by a value wrapped in an
 * `<untrusted_name>` fence that the value itself cannot close, because task text, issue text,
 * diffs and command output may be written to steer the model.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../server/package-root.js';

export const PROMPT_NAMES = ['decompose', 'plan', 'code', 'verify', 'review'] as const;
export type PromptName = (typeof PROMPT_NAMES)[number];

export interface PromptVariables {
  /** Substituted as they are: only values TeleCoder itself chose (numbers, repository names). */
  vars: readonly string[];
  /** Substituted fenced as data. */
  untrusted: readonly string[];
}

/** Every placeholder each template uses; a template that drifts from this fails when loaded. */
export const PROMPT_VARIABLES: Readonly<Record<PromptName, PromptVariables>> = {
  decompose: { vars: ['repo', 'maxSubtasks'], untrusted: ['task', 'context'] },
  plan: { vars: ['repo'], untrusted: ['task', 'step', 'context'] },
  code: { vars: ['repo'], untrusted: ['task', 'step', 'plan', 'feedback'] },
  verify: { vars: [], untrusted: ['task', 'plan', 'checks'] },
  review: { vars: [], untrusted: ['task', 'plan', 'diff', 'checks'] },
};

/** Every fence tag starts with this; inside fenced data the word is rewritten so no fence can be closed. */
const FENCE_PREFIX = 'untrusted_';

// Matches "untrusted_" also when invisible format characters are slipped between its letters or a
// look-alike underscore is used, since a model may read those as the same tag.
const FENCE_WORD = new RegExp(
  `${[...'untrusted'].join('\\p{Cf}*')}\\p{Cf}*[_\\uFF3F\\uFE4D-\\uFE4F]`,
  'giu',
);

export function neutraliseFences(text: string): string {
  return text.replace(FENCE_WORD, 'untrusted-');
}

export function fenceUntrustedData(name: string, text: string): string {
  const tag = `${FENCE_PREFIX}${name}`;
  return `<${tag}>\n${neutraliseFences(text)}\n</${tag}>`;
}

const IDENTIFIER = '[A-Za-z][A-Za-z0-9_]*';
const PLACEHOLDER = new RegExp(`\\{\\{(untrusted:)?(${IDENTIFIER})\\}\\}`, 'g');

interface LoadedTemplate {
  text: string;
  declared: PromptVariables;
}

function loadTemplate(path: string, name: string, declared: PromptVariables): LoadedTemplate {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`prompt template "${name}" cannot be read from ${path} (${(error as Error).message}); reinstall TeleCoder`, {
      cause: error,
    });
  }
  const used = { vars: new Set<string>(), untrusted: new Set<string>() };
  for (const match of text.matchAll(PLACEHOLDER)) {
    (match[1] ? used.untrusted : used.vars).add(match[2]!);
  }
  const problems: string[] = [];
  // Only "{{" is looked for: "}}" is common in prompt text (nested JSON examples).
  const stray = text.replace(PLACEHOLDER, '').match(/\{\{[^}\n]*\}?\}?/g);
  if (stray) problems.push(`malformed placeholder ${stray.map((s) => `"${s}"`).join(', ')}`);
  for (const kind of ['vars', 'untrusted'] as const) {
    const label = kind === 'vars' ? '{{' : '{{untrusted:';
    for (const used_ of used[kind]) {
      if (!declared[kind].includes(used_)) problems.push(`unknown placeholder ${label}${used_}}}`);
    }
    for (const wanted of declared[kind]) {
      if (!used[kind].has(wanted)) problems.push(`declared placeholder ${label}${wanted}}} is never used`);
    }
  }
  if (problems.length > 0) {
    throw new Error(`prompt template "${name}" (${path}) is broken: ${problems.join('; ')}; fix the template or its declaration`);
  }
  return { text, declared };
}

export interface PromptRendererOptions<Name extends string> {
  /** Where `<name>.md` files are. */
  directory: string;
  variables: Readonly<Record<Name, PromptVariables>>;
}

export type RenderPrompt<Name extends string> = (
  name: Name,
  vars: Record<string, string>,
  untrusted?: Record<string, string>,
) => string;

/** A renderer over one template directory; each template is read and checked once, on first use. */
export function createPromptRenderer<Name extends string>(options: PromptRendererOptions<Name>): RenderPrompt<Name> {
  const cache = new Map<Name, LoadedTemplate>();
  return (name, vars, untrusted = {}) => {
    const declared = Object.hasOwn(options.variables, name) ? options.variables[name] : undefined;
    if (!declared) {
      throw new Error(`there is no prompt template "${name}"; known: ${Object.keys(options.variables).join(', ')}`);
    }
    let template = cache.get(name);
    if (!template) {
      template = loadTemplate(join(options.directory, `${name}.md`), name, declared);
      cache.set(name, template);
    }
    const problems: string[] = [];
    for (const wanted of declared.vars) if (!Object.hasOwn(vars, wanted)) problems.push(`missing variable "${wanted}"`);
    for (const wanted of declared.untrusted) {
      if (!Object.hasOwn(untrusted, wanted)) problems.push(`missing untrusted variable "${wanted}"`);
    }
    for (const given of Object.keys(vars)) {
      if (!declared.vars.includes(given)) {
        problems.push(
          declared.untrusted.includes(given)
            ? `"${given}" must be passed as untrusted data`
            : `unknown variable "${given}"`,
        );
      }
    }
    for (const given of Object.keys(untrusted)) {
      if (!declared.untrusted.includes(given)) problems.push(`unknown untrusted variable "${given}"`);
    }
    if (problems.length > 0) throw new Error(`cannot render prompt "${name}": ${problems.join('; ')}`);
    // One pass, so a value that contains "{{…}}" is never substituted again.
    return template.text.replace(PLACEHOLDER, (_match, isUntrusted: string | undefined, key: string) =>
      isUntrusted ? fenceUntrustedData(key, untrusted[key]!) : vars[key]!,
    );
  };
}

let defaultRenderer: RenderPrompt<PromptName> | undefined;

/**
 * Renders a stage's prompt. Templates are read from `<package root>/src/pipeline/prompts/` at run
 * time because tsc does not copy .md files into dist/.
 */
export function renderPrompt(name: PromptName, vars: Record<string, string>, untrusted: Record<string, string> = {}): string {
  defaultRenderer ??= createPromptRenderer({
    directory: join(packageRoot(), 'src', 'pipeline', 'prompts'),
    variables: PROMPT_VARIABLES,
  });
  return defaultRenderer(name, vars, untrusted);
}
