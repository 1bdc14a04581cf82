import { decidePermission, type PermissionDecision } from '../decide-permission.js';
import { statusOf, type GitHubApi, type RepoCoordinates } from './github-api.js';

export type PermissionChecker = (login: string) => Promise<PermissionDecision>;

/**
 * Asks GitHub what each login may do in the repository, once per login: one checker lives for one
 * delivery, so a thread with many comments by the same person costs one request, and a role
 * changed later is seen by the next delivery.
 */
export function createPermissionChecker(github: GitHubApi, where: RepoCoordinates): PermissionChecker {
  const known = new Map<string, Promise<PermissionDecision>>();
  return (login) => {
    const key = login.toLowerCase();
    let decision = known.get(key);
    if (!decision) {
      decision = ask(github, where, login);
      known.set(key, decision);
    }
    return decision;
  };
}

async function ask(github: GitHubApi, where: RepoCoordinates, login: string): Promise<PermissionDecision> {
  try {
    const { data } = await github.request('GET /repos/{owner}/{repo}/collaborators/{username}/permission', {
      ...where,
      username: login,
    });
    return decidePermission(data.permission, (data as { role_name?: string }).role_name);
  } catch (error) {
    // GitHub answers 404 for an account that does not exist or cannot be seen: no access.
    if (statusOf(error) === 404) return { allowed: false, reason: `GitHub knows no collaborator ${login}` };
    throw error;
  }
}
