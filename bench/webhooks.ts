/**
 * `npm run bench` (second part): webhook acknowledgement. 100 signed deliveries in 10 s against
 * the running TeleCoder server, and the same deliveries against a bare Probot app in the same
 * run; p50 and p99 of the time to the HTTP answer, and the sessions created (each delivery by a
 * writer should create one; the ignored ones none). GitHub's API is a loopback stand-in.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Probot, Server } from 'probot';
import { loadConfig } from '../src/config/config.js';
import { createLogger } from '../src/logger.js';
import { freePort } from '../src/server/free-port.js';
import { TeleCoderBuilder } from '../src/telecoder.js';
import { example } from '../test/fixtures/github/index.js';
import { appPrivateKey, deliver } from '../test/helpers/github-app-webhooks.js';
import { startFakeGitHubApi } from './fake-github-api.js';

const DELIVERIES = Number(process.env.BENCH_DELIVERIES ?? 100);
const WINDOW_MS = 10_000;
const SECRET = 'bench-secret';

/** Every fifth delivery is an event TeleCoder ignores (an edit); the rest are trigger labels. */
function payloadFor(index: number) {
  const payload = example('issues', 'labeled');
  payload.label = { ...payload.label!, name: 'telecoder' };
  payload.sender = { ...payload.sender, login: `writer-${index}`, type: 'User' };
  (payload as { installation?: { id: number; node_id: string } }).installation = { id: 1, node_id: 'MDIz' };
  if (index % 5 === 4) (payload as { action: string }).action = 'edited';
  return payload;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Sends the deliveries spread evenly over the window, without waiting for answers in between. */
async function burst(url: string): Promise<{ times: number[]; failures: number }> {
  const times: number[] = [];
  let failures = 0;
  const sends: Promise<void>[] = [];
  for (let index = 0; index < DELIVERIES; index++) {
    const payload = payloadFor(index);
    sends.push(
      (async () => {
        const started = performance.now();
        const answer = await deliver(url, { event: 'issues', payload, secret: SECRET });
        times.push(performance.now() - started);
        if (answer.status >= 300) failures++;
      })(),
    );
    await new Promise((resolve) => setTimeout(resolve, WINDOW_MS / DELIVERIES));
  }
  await Promise.all(sends);
  return { times, failures };
}

async function bareProbot(privateKey: string): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort('127.0.0.1');
  const log = createLogger('silent');
  const server = new Server({
    host: '127.0.0.1',
    port,
    log,
    Probot: Probot.defaults({ appId: 1, privateKey, secret: SECRET, log }),
  });
  await server.load((app) => {
    app.on('issues', async () => undefined);
  });
  await server.start();
  return { url: `http://127.0.0.1:${port}`, stop: () => server.stop() };
}

async function main(): Promise<void> {
  const privateKey = appPrivateKey();
  const github = await startFakeGitHubApi();
  const dataDir = mkdtempSync(join(tmpdir(), 'telecoder-bench-webhooks-'));
  try {
    const bare = await bareProbot(privateKey);
    const baseline = await burst(bare.url);
    await bare.stop();

    const config = loadConfig({
      TELECODER_DATA_DIR: dataDir,
      TELECODER_ADDR: '127.0.0.1:0',
      APP_ID: '1',
      PRIVATE_KEY: privateKey,
      WEBHOOK_SECRET: SECRET,
      GITHUB_API_URL: github.url,
      // Sessions are created and queued; they fail at the clone, which is not what is measured.
      TELECODER_GIT_URL: 'file:///nonexistent',
      TELECODER_MAX_CONCURRENT: '1',
      ANTHROPIC_API_KEY: 'bench',
    });
    const app = new TeleCoderBuilder().withConfig(config).withLogger(createLogger('silent')).build();
    await app.start();
    const measured = await burst(app.url);
    const sessions = app.store.listSessions().length;
    await app.stop();

    const expected = Array.from({ length: DELIVERIES }, (_, index) => index).filter((index) => index % 5 !== 4).length;
    const row = (name: string, run: { times: number[]; failures: number }) =>
      `${name.padEnd(26)} p50 ${percentile(run.times, 50).toFixed(1).padStart(7)} ms   p99 ${percentile(run.times, 99).toFixed(1).padStart(7)} ms   non-2xx ${run.failures}`;
    console.log(`Webhook acknowledgement — ${DELIVERIES} signed deliveries over ${WINDOW_MS / 1000} s, Node ${process.version}`);
    console.log(row('bare Probot app', baseline));
    console.log(row('TeleCoder', measured));
    console.log(
      `ratio p50 ${(percentile(measured.times, 50) / percentile(baseline.times, 50)).toFixed(2)}×, p99 ${(percentile(measured.times, 99) / percentile(baseline.times, 99)).toFixed(2)}×; ` +
        `sessions created ${sessions} of ${expected} expected`,
    );
    if (sessions !== expected) process.exitCode = 1;
  } finally {
    await github.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
