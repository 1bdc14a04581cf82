import type { Config } from '../config/config.js';
import { NotConfiguredError } from '../errors.js';
import { AnthropicClient } from './anthropic-client.js';
import type { LLMClient } from './client.js';
import { OpenAIClient } from './openai-client.js';

export const DEFAULT_MODELS = { anthropic: 'claude-sonnet-4-6', openai: 'gpt-4.1' } as const;

export interface LLMClientOverrides {
  /** A session's own model, instead of the configured one. */
  model?: string;
  fetch?: (input: string | URL | Request, init?: RequestInit) => Promise<Response>;
}

/** The provider sessions will use: TELECODER_LLM_PROVIDER, else whichever key is set; undefined without either. */
export function configuredProvider(config: Config['llm']): 'anthropic' | 'openai' | undefined {
  if (config.provider) return config.provider;
  if (config.anthropicApiKey) return 'anthropic';
  if (config.openaiApiKey) return 'openai';
  return undefined;
}

function pickProvider(config: Config['llm']): 'anthropic' | 'openai' {
  const provider = configuredProvider(config);
  if (provider) return provider;
  // Not a bug of the server but a setting it lacks: the API answers 503 with this text.
  throw new NotConfiguredError(
    'No LLM provider is configured: set ANTHROPIC_API_KEY (Anthropic) or OPENAI_API_KEY (OpenAI; with ' +
      'OPENAI_BASE_URL for an OpenAI-compatible server such as Ollama or vLLM).',
  );
}

/** Builds the client for the configured provider: explicit choice first, then whichever key is set. */
export function createLLMClient(config: Config['llm'], overrides: LLMClientOverrides = {}): LLMClient {
  const provider = pickProvider(config);
  const common = {
    maxRetries: config.maxRetries,
    timeoutMs: config.requestTimeoutMs,
    ...(overrides.fetch ? { fetch: overrides.fetch } : {}),
  };
  if (provider === 'anthropic') {
    if (!config.anthropicApiKey) {
      throw new NotConfiguredError('TELECODER_LLM_PROVIDER is "anthropic" but ANTHROPIC_API_KEY is not set: set it.');
    }
    return new AnthropicClient({
      ...common,
      apiKey: config.anthropicApiKey,
      model: overrides.model ?? config.model ?? DEFAULT_MODELS.anthropic,
      ...(config.anthropicBaseUrl ? { baseURL: config.anthropicBaseUrl } : {}),
    });
  }
  // Local OpenAI-compatible servers (Ollama, vLLM, LM Studio) accept any key.
  const apiKey = config.openaiApiKey ?? (config.openaiBaseUrl ? 'not-needed' : undefined);
  if (!apiKey) {
    throw new NotConfiguredError(
      'TELECODER_LLM_PROVIDER is "openai" but OPENAI_API_KEY is not set: set it (or OPENAI_BASE_URL for a ' +
        'local OpenAI-compatible server that needs no key).',
    );
  }
  return new OpenAIClient({
    ...common,
    apiKey,
    model: overrides.model ?? config.model ?? DEFAULT_MODELS.openai,
    ...(config.openaiBaseUrl ? { baseURL: config.openaiBaseUrl } : {}),
  });
}
