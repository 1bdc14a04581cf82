import type { Config } from '../../config/config.js';
import { configuredProvider, DEFAULT_MODELS } from '../../llm/create-llm-client.js';
import type { GatewayApi } from './agent-cli.js';
import type { LLMGateway } from '../../gateway/llm-gateway-types.js';
import type { CodingAgent } from '../coding-agent.js';
import { claudeCode } from './claude-code.js';
import { codex } from './codex.js';
import { ExternalAgent } from './external-agent.js';
import { opencode } from './opencode.js';

/** Claude Code, OpenCode and Codex, each run in the sandbox through the gateway. */
export function externalAgents(options: { gateway: LLMGateway; config: Pick<Config, 'llm' | 'agent'> }): CodingAgent[] {
  const { gateway, config } = options;
  return [claudeCode, opencode, codex].map(
    (cli) =>
      new ExternalAgent({
        cli,
        gateway,
        apis: () => gatewayApis(config.llm),
        modelFor: (api, sessionModel) => (api === configuredProvider(config.llm) ? sessionModel : DEFAULT_MODELS[api]),
        timeoutMs: config.agent.externalTimeoutMs,
      }),
  );
}

/** The providers the gateway can forward to (a key, or an OpenAI-compatible URL), the configured one first. */
function gatewayApis(llm: Config['llm']): GatewayApi[] {
  const have: GatewayApi[] = [];
  if (llm.anthropicApiKey) have.push('anthropic');
  if (llm.openaiApiKey || llm.openaiBaseUrl) have.push('openai');
  const first = configuredProvider(llm);
  return first ? [first, ...have.filter((api) => api !== first)] : have;
}
