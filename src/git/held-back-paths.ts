/**
 * Paths whose changes TeleCoder does not push unless allowed: GitHub runs what is under
 * `.github/workflows/` on the pushed branch (with the repository's secrets), and workflows run the
 * actions under `.github/actions/`. An agent that can be prompt-injected must not be able to write
 * CI code that runs with those secrets, so such changes are held back for a person to add.
 */
export const HELD_BACK_DIRS: readonly string[] = ['.github/workflows', '.github/actions'];

/** How an operator or a repository lets such changes through (for messages). */
export const ALLOW_WORKFLOW_CHANGES_HINT =
  'allow them with TELECODER_ALLOW_WORKFLOW_CHANGES=true on the server, or `allowWorkflowChanges: true` in the repository\'s .github/telecoder.yml';

/**
 * True for a repository path inside (or exactly at) one of those directories at the repository's
 * root, and for `.github` itself when it is a file or a symbolic link (a link could point the
 * directories somewhere else). Case-insensitive: GitHub's own lookups are case-sensitive, but a
 * checkout on a case-insensitive file system is not, and holding back too much is the safe mistake.
 */
export function isHeldBackPath(path: string): boolean {
  const lower = path.toLowerCase();
  return lower === '.github' || HELD_BACK_DIRS.some((dir) => lower === dir || lower.startsWith(`${dir}/`));
}

/** Whether workflow changes go through: the server's setting, or the repository's own. */
export function workflowChangesAllowed(options: { server: boolean; repository?: boolean | undefined }): boolean {
  return options.server || options.repository === true;
}
