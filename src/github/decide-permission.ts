export interface PermissionDecision {
  allowed: boolean;
  reason: string;
}

/** GitHub's built-in repository roles, weakest first. */
const BUILT_IN_ROLES = new Set(['none', 'read', 'triage', 'write', 'maintain', 'admin']);
const WRITING_ROLES = new Set(['write', 'maintain', 'admin']);

/**
 * Reads GitHub's answer to GET /repos/{owner}/{repo}/collaborators/{username}/permission: only
 * people who could push the change themselves may ask TeleCoder to make it.
 *
 * `role_name` is the precise answer (it tells maintain and triage apart, which `permission` folds
 * into write and read). An organization's custom role has its own name there, so for a name that
 * is not a built-in role the decision falls back to `permission`, which GitHub reports as the
 * custom role's base (admin, write or read).
 */
export function decidePermission(permission: string | undefined, roleName?: string): PermissionDecision {
  const role = roleName?.trim().toLowerCase();
  if (role && BUILT_IN_ROLES.has(role)) {
    return WRITING_ROLES.has(role)
      ? { allowed: true, reason: `role ${role} can write to the repository` }
      : { allowed: false, reason: `role ${role} cannot write to the repository` };
  }
  const base = permission?.trim().toLowerCase();
  if (!base) return { allowed: false, reason: 'GitHub reported no permission for this account' };
  const via = role ? ` (custom role ${role})` : '';
  return WRITING_ROLES.has(base)
    ? { allowed: true, reason: `permission ${base}${via} can write to the repository` }
    : { allowed: false, reason: `permission ${base}${via} cannot write to the repository` };
}
