import type { ErrorShape } from './gateway-errors.js';

export type Provider = 'anthropic' | 'openai';

/** Which answer format carries the usage to count; null for requests that use no tokens. */
export type UsageApi = 'anthropic-messages' | 'chat-completions' | 'responses' | null;

export interface GatewayRoute {
  provider: Provider;
  /** For the log line: `anthropic messages`, `openai responses`… */
  name: string;
  /** The path after the provider's base URL (Anthropic's base has no /v1, OpenAI's has). */
  upstreamPath: string;
  usage: UsageApi;
  /** A POST carries a JSON body with the model; a GET (the model list) carries none. */
  method: 'GET' | 'POST';
}

/** What the gateway serves, for the 404 that tells an agent where to go instead. */
export const ROUTE_LIST = [
  'POST /anthropic/v1/messages',
  'POST /anthropic/v1/messages/count_tokens',
  'GET /anthropic/v1/models',
  'POST /openai/v1/chat/completions',
  'POST /openai/v1/responses',
  'GET /openai/v1/models',
].join(', ');

const POST_ROUTES: Record<string, Omit<GatewayRoute, 'method'>> = {
  '/anthropic/v1/messages': {
    provider: 'anthropic',
    name: 'anthropic messages',
    upstreamPath: '/v1/messages',
    usage: 'anthropic-messages',
  },
  '/anthropic/v1/messages/count_tokens': {
    provider: 'anthropic',
    name: 'anthropic count_tokens',
    upstreamPath: '/v1/messages/count_tokens',
    usage: null,
  },
  '/openai/v1/chat/completions': {
    provider: 'openai',
    name: 'openai chat completions',
    upstreamPath: '/chat/completions',
    usage: 'chat-completions',
  },
  '/openai/v1/responses': { provider: 'openai', name: 'openai responses', upstreamPath: '/responses', usage: 'responses' },
};

// One path segment of a model id: letters, digits and the punctuation providers use (claude-x-1,
// ft:gpt-4o:org, llama3.1:8b); nothing that could climb out of /models (not `.` or `..`).
const MODELS_PATH = /^\/(anthropic|openai)\/v1\/models(\/(?!\.+$)[A-Za-z0-9._:@-]+)?$/;

export function matchRoute(method: string | undefined, pathname: string): GatewayRoute | undefined {
  if (method === 'POST') {
    const route = POST_ROUTES[pathname];
    return route ? { ...route, method: 'POST' } : undefined;
  }
  if (method !== 'GET') return undefined;
  const models = MODELS_PATH.exec(pathname);
  if (!models) return undefined;
  const provider = models[1] as Provider;
  const tail = models[2] ?? '';
  return {
    provider,
    name: `${provider} models`,
    upstreamPath: provider === 'anthropic' ? `/v1/models${tail}` : `/models${tail}`,
    usage: null,
    method: 'GET',
  };
}

/** The error shape of a path, even one that matches no route: its prefix names the provider. */
export function shapeOf(pathname: string): ErrorShape {
  return pathname.startsWith('/anthropic/') || pathname === '/anthropic' ? 'anthropic' : 'openai';
}
