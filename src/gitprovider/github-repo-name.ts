/**
 * A GitHub repository as people copy it — from the browser's address bar or the "Code" button —
 * turned into the `owner/name` TeleCoder works with:
 *
 *   https://github.com/octo/cat, https://github.com/octo/cat.git, https://github.com/octo/cat/,
 *   git@github.com:octo/cat.git, ssh://git@github.com/octo/cat.git, github.com/octo/cat, octo/cat/
 *
 * Only github.com: a GitHub Enterprise host is named by TELECODER_GITHUB_URL, and its repositories
 * are given as owner/name. Anything else is returned unchanged, for the caller's own checks.
 */
const GITHUB_URL = /^(?:(?:https?:\/\/|ssh:\/\/git@)(?:www\.)?github\.com\/|git@github\.com:|(?:www\.)?github\.com\/)([^/\s]+)\/([^/\s]+?)(?:\.git)?\/?$/i;
const OWNER_NAME_WITH_SLASH = /^([^/\s]+)\/([^/\s]+)\/+$/;

export function githubRepoName(value: string): string {
  const trimmed = value.trim();
  const url = GITHUB_URL.exec(trimmed);
  if (url) return `${url[1]}/${url[2]}`;
  const slashed = OWNER_NAME_WITH_SLASH.exec(trimmed);
  // Not a path: an absolute path keeps its trailing slash for the local provider to resolve.
  if (slashed && !trimmed.startsWith('/') && !trimmed.includes(':')) return `${slashed[1]}/${slashed[2]}`;
  return trimmed;
}
