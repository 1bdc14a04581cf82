import type { TriggerActor } from './trigger.js';

export interface CheckActorOptions {
  /** The GitHub App's slug; its bot account is `<slug>[bot]`. */
  appSlug?: string;
  /** TeleCoder's own login when it is not an App (e.g. a machine user behind a token). */
  botLogin?: string;
}

export type ActorDecision =
  | { allowed: true }
  /** `answer` says whether to reply with a refusal; replies to bots are never sent (loops). */
  | { allowed: false; reason: string; answer: boolean };

/**
 * The first gate, before any API call: bots — other Apps, GitHub Actions, TeleCoder itself —
 * never start work, and are refused silently so two bots cannot talk to each other forever.
 */
export function checkActor(actor: Partial<TriggerActor>, options: CheckActorOptions = {}): ActorDecision {
  const login = typeof actor.login === 'string' ? actor.login.trim() : '';
  const type = typeof actor.type === 'string' ? actor.type : '';
  if (login === '') return { allowed: false, reason: 'the event names no account', answer: false };
  const lower = login.toLowerCase();
  const own = [options.appSlug?.trim() ? `${options.appSlug.trim()}[bot]` : undefined, options.botLogin?.trim()]
    .filter((name): name is string => Boolean(name))
    .map((name) => name.toLowerCase());
  if (own.includes(lower)) return { allowed: false, reason: `${login} is TeleCoder itself`, answer: false };
  if (type.toLowerCase() === 'bot') return { allowed: false, reason: `${login} is a bot account`, answer: false };
  if (lower.endsWith('[bot]')) return { allowed: false, reason: `${login} is a bot account`, answer: false };
  return { allowed: true };
}
