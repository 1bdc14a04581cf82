import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { TeleCoderError } from '../errors.js';
import { githubRepoName } from '../gitprovider/github-repo-name.js';

/** GitHub's own rule for `owner/name`. */
export const GITHUB_REPO_PATTERN = /^[A-Za-z0-9-]+\/[A-Za-z0-9._-]+$/;
export const MAX_TEXT_LENGTH = 10_000;

const isLocalRepo = (repo: string) => repo.startsWith('/') || repo.startsWith('file://');

/** A missing field and a field of the wrong type are different mistakes, so they read differently. */
function requiredString(name: string, hint: string) {
  return z.string({
    error: (issue) =>
      issue.input === undefined
        ? `${name} is required: ${hint}`
        : `${name} must be a string (got ${describeType(issue.input)}): ${hint}`,
  });
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

const repo = requiredString('repo', 'owner/name, or an absolute path to a local git repository')
  .trim()
  // What people paste (a github.com URL, owner/name/) is taken as the owner/name it names.
  .transform(githubRepoName)
  // Whether local repositories are allowed is the service's decision, not the door's.
  .refine((value) => GITHUB_REPO_PATTERN.test(value) || isLocalRepo(value), {
    error: 'repo must be owner/name (e.g. octocat/hello-world) or an absolute path / file:// URL of a local git repository',
  });

function text(name: string, hint: string) {
  return requiredString(name, hint)
    .refine((value) => value.trim() !== '', { error: `${name} must not be empty: ${hint}` })
    .refine((value) => value.length <= MAX_TEXT_LENGTH, {
      error: `${name} is longer than ${MAX_TEXT_LENGTH.toLocaleString('en-US')} characters; shorten it or point to a file in the repository`,
    });
}

const optionalName = (name: string) =>
  z
    .string({ error: `${name} must be a string` })
    .trim()
    .min(1, { error: `${name} must not be empty; leave it out to use the server's default` })
    .max(200, { error: `${name} must be at most 200 characters` })
    .optional();

export const createSessionBody = z.object(
  {
    repo,
    prompt: text('prompt', 'say what TeleCoder should do'),
    mode: z.enum(['task', 'chat'], { error: 'mode must be "task" or "chat"' }).optional(),
    agent: optionalName('agent'),
    model: optionalName('model'),
  },
  { error: 'request body must be a JSON object like {"repo": "owner/name", "prompt": "..."}' },
);
export type CreateSessionBody = z.infer<typeof createSessionBody>;

export const sendMessageBody = z.object(
  { content: text('content', 'the message for the chat session') },
  { error: 'request body must be a JSON object like {"content": "..."}' },
);
export type SendMessageBody = z.infer<typeof sendMessageBody>;

export const MAX_PRUNE_REPOS = 1000;

/**
 * A local repository's caches are kept under its absolute path (as the local provider names it),
 * so a file:// URL or a trailing slash is taken as that path. GitHub names pass as given.
 */
function cacheRepoName(value: string): string {
  if (!isLocalRepo(value)) return value;
  let path = value;
  if (value.startsWith('file://')) {
    try {
      path = fileURLToPath(value);
    } catch {
      return value;
    }
  }
  const resolved = resolve(path);
  return resolved.length > 1 ? resolved.replace(/\/+$/, '') : resolved;
}

const PRUNE_BODY_HINT = 'request body must be a JSON object like {"repos": ["owner/name"]}, or no body to prune every repository';

/**
 * `POST /api/caches/prune`. Unknown fields are refused rather than dropped: a misspelt `repos`
 * must not turn into "prune everything".
 */
export const pruneCachesBody = z.strictObject(
  {
    repos: z
      .array(repo.transform(cacheRepoName), { error: 'repos must be a list of repositories like ["owner/name"]' })
      .min(1, { error: 'repos must not be empty; leave it out (or send no body) to prune every repository' })
      .max(MAX_PRUNE_REPOS, { error: `repos may name at most ${MAX_PRUNE_REPOS} repositories` })
      .transform((repos) => [...new Set(repos)])
      .optional(),
  },
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((key) => `"${key}"`).join(', ')} in the request body; the only field is "repos"`
        : PRUNE_BODY_HINT,
  },
);
export type PruneCachesBody = z.infer<typeof pruneCachesBody>;

const flag = (name: string) => z.boolean({ error: `${name} must be true or false` }).optional();

/**
 * `POST /api/repos/prune`. Strict like the cache prune: a misspelt `dry_run` must not turn a
 * look into a removal.
 */
export const pruneBranchesBody = z.strictObject(
  {
    repo,
    dry_run: flag('dry_run'),
    include_delivered: flag('include_delivered'),
  },
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((key) => `"${key}"`).join(', ')} in the request body; the fields are "repo", "dry_run" and "include_delivered"`
        : 'request body must be a JSON object like {"repo": "/path/to/repository", "dry_run": true}',
  },
);
export type PruneBranchesBody = z.infer<typeof pruneBranchesBody>;

/** Parses `value` with `schema`, or throws a 400 listing every problem. */
export function parseBody<T>(schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new TeleCoderError(parsed.error.issues.map((issue) => issue.message).join('; '), 400);
}

/** Parses a non-negative integer query or header value; `undefined` stays `undefined`. */
export function parseEventId(name: string, value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (!/^\d+$/.test(trimmed) || !Number.isSafeInteger(Number(trimmed))) {
    throw new TeleCoderError(`${name} must be an event id (a whole number ≥ 0), got "${value}"`, 400);
  }
  return Number(trimmed);
}

/** Parses `?limit=`: 1 to 1000. */
export function parseLimit(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const limit = Number(value);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new TeleCoderError(`limit must be a whole number from 1 to 1000, got "${value}"`, 400);
  }
  return limit;
}
