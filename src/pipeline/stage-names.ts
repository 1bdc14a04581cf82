/** The built-in stages, in the only order they make sense in. TELECODER_STAGES picks from these. */
export const BUILTIN_STAGE_NAMES = ['setup', 'index', 'decompose', 'plan', 'code', 'verify', 'review'] as const;
export type BuiltinStageName = (typeof BUILTIN_STAGE_NAMES)[number];

/** Stages run once per session, before the steps; the others run for every step. */
export const SETUP_STAGE_NAMES: readonly BuiltinStageName[] = ['setup', 'index', 'decompose'];

/**
 * Reads TELECODER_STAGES (a comma list; unset: all of them). Returns the names in pipeline order,
 * or the problem as text, so a typo never silently drops a stage.
 */
export function parseStageNames(value: string | undefined): BuiltinStageName[] | string {
  if (value === undefined || value.trim() === '') return [...BUILTIN_STAGE_NAMES];
  const names = value.split(',').map((name) => name.trim().toLowerCase()).filter((name) => name !== '');
  const unknown = names.filter((name) => !(BUILTIN_STAGE_NAMES as readonly string[]).includes(name));
  if (unknown.length > 0) {
    return `TELECODER_STAGES has unknown stage(s) ${unknown.map((name) => `"${name}"`).join(', ')}; use a comma list of ${BUILTIN_STAGE_NAMES.join(', ')}`;
  }
  if (!names.includes('code')) {
    return `TELECODER_STAGES must include "code" (the stage that changes the repository); got "${value}"`;
  }
  return BUILTIN_STAGE_NAMES.filter((name) => names.includes(name));
}
