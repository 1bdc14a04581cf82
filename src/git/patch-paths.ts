/**
 * The files of `git apply --numstat -z` output: git's own reading of the patch, so quoting,
 * octal escapes and traditional (non-git) diffs are resolved exactly as git apply resolves them.
 * Each record is "added\tdeleted\tpath\0", the path being where the file ends up (the old path
 * for a deletion). The source of a rename or copy is not listed: git reads it from the server's
 * index, which holds only the base's own files, so a source outside them fails in git.
 */
export function parseNumstat(output: string): string[] {
  const paths: string[] = [];
  for (const record of output.split('\0')) {
    const parts = record.split('\t');
    if (parts.length < 3) continue;
    const path = parts.slice(2).join('\t');
    if (path !== '') paths.push(path);
  }
  return paths;
}

/**
 * Characters that HFS+ ignores in names, so that ".g\u200cit" is ".git" there (git's own list,
 * utf8.c is_hfs_dotgit).
 */
const HFS_IGNORED = /[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]/g;

/** True when a path component names the git directory on some file system git supports. */
function isGitDirName(component: string): boolean {
  const name = component.replace(HFS_IGNORED, '').toLowerCase();
  // NTFS drops trailing dots and spaces, and has the 8.3 short name git~1.
  return name.replace(/[. ]+$/, '') === '.git' || /^git~\d+$/.test(name);
}

/**
 * Why a patch must not touch this path, or undefined when it may: a `.git` component at any depth
 * and in any case (git metadata: hooks, config), or a path that is not plainly inside the tree
 * (absolute, `.` or `..` components, empty components).
 */
export function refusedPathReason(path: string): string | undefined {
  if (path === '') return 'it names an empty path';
  if (path.startsWith('/')) return 'it is an absolute path, outside the repository';
  const components = path.split('/');
  // A backslash separates directories on Windows: a clone there must not find .git either.
  if (path.split(/[/\\]/).some(isGitDirName)) return 'it is inside git metadata (.git)';
  if (components.some((component) => component === '..' || component === '.' || component === '')) {
    return 'it is not a plain path inside the repository';
  }
  return undefined;
}
