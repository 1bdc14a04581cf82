import type { Config } from '../config/config.js';
import type { Logger } from '../logger.js';
import { createLLMGateway } from './llm-gateway.js';
import type { LLMGateway } from './llm-gateway-types.js';

/** The gateway with the server's own keys and base URLs: what external agents reach instead of the providers. */
export function createGatewayFromConfig(config: Pick<Config, 'llm'>, logger: Logger): LLMGateway {
  const { llm } = config;
  return createLLMGateway({
    ...(llm.anthropicApiKey
      ? { anthropic: { apiKey: llm.anthropicApiKey, ...(llm.anthropicBaseUrl ? { baseUrl: llm.anthropicBaseUrl } : {}) } }
      : {}),
    ...(llm.openaiApiKey || llm.openaiBaseUrl
      ? {
          openai: {
            ...(llm.openaiApiKey ? { apiKey: llm.openaiApiKey } : {}),
            ...(llm.openaiBaseUrl ? { baseUrl: llm.openaiBaseUrl } : {}),
          },
        }
      : {}),
    allowedModels: llm.allowedModels,
    logger: logger.child({ component: 'llm-gateway' }),
  });
}
