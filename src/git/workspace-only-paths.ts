/**
 * Directories workspace setup fills in the sandbox (installed dependencies, the virtualenv) that
 * are never part of a change, whatever the repository's .gitignore says.
 */
export const WORKSPACE_ONLY_DIRS: readonly string[] = ['node_modules', '.venv'];

/**
 * Pathspecs that leave those directories out of `git add` and `git diff` at any depth. Git then
 * does not even hash them, which matters for a node_modules the repository forgot to ignore.
 */
export const WORKSPACE_ONLY_PATHSPECS: readonly string[] = [
  '.',
  ...WORKSPACE_ONLY_DIRS.map((dir) => `:(exclude,glob)**/${dir}/**`),
];

/** Lines for the sandbox's .git/info/exclude, so the agent's own `git status` stays readable. */
export const WORKSPACE_ONLY_EXCLUDE_LINES: readonly string[] = WORKSPACE_ONLY_DIRS.map((dir) => `${dir}/`);

/** True when a repository path lies inside one of those directories. */
export function isWorkspaceOnlyPath(path: string): boolean {
  return path.split('/').some((part) => WORKSPACE_ONLY_DIRS.includes(part));
}
