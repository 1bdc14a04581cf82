import { TeleCoderError } from '../errors.js';
import type { GitProvider } from '../gitprovider/provider.js';
import type { TaskRequest } from '../model/session.js';

/**
 * The longest prompt any door may hand the engine. Doors that assemble context (an issue thread,
 * a pull request's diff) need room; text a person types is held to 10,000 characters by the
 * door itself (the HTTP API).
 */
export const MAX_PROMPT_LENGTH = 100_000;

/** Picks the provider for a repository string, or explains which forms are accepted. */
export function providerFor(repo: string, providers: GitProvider[], allowLocalRepos: boolean): GitProvider {
  const provider = providers.find((candidate) => candidate.handles(repo));
  if (!provider) {
    throw new TeleCoderError(
      `repo "${repo}" is not a repository TeleCoder can work on: give it as owner/name (GitHub)` +
        (allowLocalRepos ? ' or as an absolute path to a local git repository' : ''),
    );
  }
  if (provider.name === 'local' && !allowLocalRepos) {
    throw new TeleCoderError(
      'local repositories are disabled on this server (TELECODER_ALLOW_LOCAL_REPOS=false); give the repository as owner/name',
      403,
    );
  }
  return provider;
}

/** Checks what every door must respect, whatever validation the door did itself. */
export function validateTaskRequest(request: TaskRequest): void {
  if (typeof request.repo !== 'string' || request.repo.trim() === '') {
    throw new TeleCoderError('repo is required: owner/name, or an absolute path to a local git repository');
  }
  if (typeof request.prompt !== 'string' || request.prompt.trim() === '') {
    throw new TeleCoderError('prompt is required: say what TeleCoder should do');
  }
  if (request.prompt.length > MAX_PROMPT_LENGTH) {
    throw new TeleCoderError(
      `prompt is ${request.prompt.length.toLocaleString('en-US')} characters; the limit is ${MAX_PROMPT_LENGTH.toLocaleString('en-US')}. Shorten it or point to a file in the repository.`,
    );
  }
  if (request.mode !== undefined && request.mode !== 'task' && request.mode !== 'chat') {
    throw new TeleCoderError('mode must be "task" or "chat"');
  }
  const revision = request.options?.revision;
  if (revision) {
    if (request.mode === 'chat') throw new TeleCoderError('a revision of a pull request cannot be a chat');
    if (!Number.isInteger(revision.prNumber) || revision.prNumber < 1) {
      throw new TeleCoderError('revision.prNumber must be a pull request number');
    }
    if (!SAFE_BRANCH.test(revision.headBranch) || revision.headBranch.includes('..')) {
      throw new TeleCoderError(`revision.headBranch "${revision.headBranch}" is not a branch TeleCoder will push to`);
    }
  }
}

/** Branch names a revision may push to: plain names, no option look-alikes or ref tricks. */
const SAFE_BRANCH = /^(?!-)(?!refs\/)[A-Za-z0-9._/-]{1,200}$/;
