/** The GitHub App's pure core: what a webhook asks for, who may ask, and what the agent is told. */
export * from './trigger.js';
export { parseTrigger, type ParseTriggerOptions, type WebhookEvent } from './parse-trigger.js';
export { parseCommand } from './parse-command.js';
export { checkActor, type ActorDecision, type CheckActorOptions } from './check-actor.js';
export { decidePermission, type PermissionDecision } from './decide-permission.js';
export { refusalMessage } from './refusal-message.js';
export { sanitizeUntrustedText, DEFAULT_UNTRUSTED_TEXT_LENGTH, type SanitizeOptions } from './sanitize-untrusted-text.js';
export { stripInvisibleCharacters, revealInvisibleCharacters } from './strip-invisible-characters.js';
export { fenceUntrusted, neutraliseFenceTags, UNTRUSTED_DATA_NOTICE } from './fence-untrusted.js';
export { buildIssueTaskPrompt, PROMPT_LIMITS, type IssueTaskPromptInput, type ThreadComment } from './build-issue-task-prompt.js';
export {
  buildRevisionPrompt,
  DEFAULT_MAX_DIFF_LENGTH,
  type RevisionPromptInput,
  type RevisionReviewComment,
} from './build-revision-prompt.js';
export {
  parseRepoConfig,
  DEFAULT_REPO_CONFIG,
  REPO_CONFIG_LIMITS,
  REPO_CONFIG_PATH,
  type RepoConfig,
} from './parse-repo-config.js';
