/**
 * `npm run bench` (gateway part): what TeleCoder's LLM gateway adds to an external agent's LLM
 * requests. The same streamed Anthropic Messages requests, made with the official SDK, go once
 * straight to a scripted LLM on loopback (the floor) and once through the gateway (a loopback
 * connection handed to gateway.accept, as the sandbox tunnel hands it), in the same run;
 * p50 and p99 of the time to the whole answer.
 */
import Anthropic from '@anthropic-ai/sdk';
import { createServer } from 'node:net';
import { createLLMGateway } from '../src/gateway/llm-gateway.js';
import { createLogger } from '../src/logger.js';
import { startScriptedLLM } from '../test/helpers/scripted-llm-server.js';

const REQUESTS = Number(process.env.BENCH_GATEWAY_REQUESTS ?? 300);
const KEY = 'sk-bench-key';

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function timeRequests(client: Anthropic): Promise<number[]> {
  const times: number[] = [];
  // A warm-up request first: connection set-up is not what is measured.
  for (let index = -1; index < REQUESTS; index += 1) {
    const started = performance.now();
    const stream = client.messages.stream({ model: 'bench-model', max_tokens: 64, messages: [{ role: 'user', content: `request ${index}` }] });
    await stream.finalMessage();
    if (index >= 0) times.push(performance.now() - started);
  }
  return times;
}

async function main(): Promise<void> {
  const reply = { text: 'a streamed answer of a few words, as a model would send it' };
  const llm = await startScriptedLLM(Array.from({ length: 2 * (REQUESTS + 1) }, () => reply));
  const gateway = createLLMGateway({ anthropic: { apiKey: KEY, baseUrl: llm.anthropicBaseUrl }, logger: createLogger('silent') });
  const usage = { requests: 0 };
  const grant = gateway.grant({ sessionId: 'bench', refusal: () => null, onUsage: () => void (usage.requests += 1) });
  // The relay in a sandbox sets TCP_NODELAY on the connections it accepts; so does this stand-in.
  const tunnel = createServer((socket) => {
    socket.setNoDelay(true);
    gateway.accept(socket, 'bench');
  });
  await new Promise<void>((resolve) => tunnel.listen(0, '127.0.0.1', resolve));
  const { port } = tunnel.address() as { port: number };
  try {
    const direct = await timeRequests(new Anthropic({ apiKey: KEY, baseURL: llm.anthropicBaseUrl, maxRetries: 0 }));
    const viaGateway = await timeRequests(new Anthropic({ authToken: grant.token, apiKey: null, baseURL: `http://127.0.0.1:${port}/anthropic`, maxRetries: 0 }));
    if (usage.requests !== REQUESTS + 1) throw new Error(`the gateway counted ${usage.requests} requests, not ${REQUESTS + 1}`);
    const row = (name: string, times: number[]) => `| ${name} | ${percentile(times, 50).toFixed(2)} ms | ${percentile(times, 99).toFixed(2)} ms |`;
    console.log(`\nLLM gateway: ${REQUESTS} streamed Messages requests (official SDK), each to its whole answer\n`);
    console.log('| | p50 | p99 |\n|---|---|---|');
    console.log(row('straight to the scripted LLM (floor)', direct));
    console.log(row('through the gateway', viaGateway));
    console.log(`\np50 ratio ${(percentile(viaGateway, 50) / percentile(direct, 50)).toFixed(2)}×; added p50 ${(percentile(viaGateway, 50) - percentile(direct, 50)).toFixed(2)} ms`);
  } finally {
    grant.revoke();
    tunnel.close();
    await gateway.close();
    await llm.close();
  }
}

await main();
