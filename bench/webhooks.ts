/**
 * `npm run bench` (second part): webhook acknowledgement. 100 signed deliveries in 10 s against
 * the running TeleCoder server, and the same deliveries against a bare Probot app in the same
 * run; p50 and p99 of the time to the HTTP answer, and the sessions created (each delivery by a
 * writer should create one; the ignored ones none). Then the inbox under load: 100 deliveries a
 * second for 10 s, against bare Probot and TeleCoder, with the deliveries lost (answered 2xx but
 * never turned into their session once the inbox drained; must be 0). GitHub's API is a loopback
 * stand-in.
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
/** The load run: 100 a second for the same 10 s. */
const LOAD_DELIVERIES = Number(process.env.BENCH_LOAD_DELIVERIES ?? 1_000);
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
async function burst(url: string, deliveries = DELIVERIES): Promise<{ times: number[]; failures: number }> {
  const times: number[] = [];
  let failures = 0;
  const sends: Promise<void>[] = [];
  const start = performance.now();
  for (let index = 0; index < deliveries; index++) {
    const payload = payloadFor(index);
    sends.push(
      (async () => {
        const started = performance.now();
        const answer = await deliver(url, { event: 'issues', payload, secret: SECRET });
        times.push(performance.now() - started);
        if (answer.status >= 300) failures++;
      })(),
    );
    // Against the schedule, not after the previous wait: timers run late under load.
    const next = start + ((index + 1) * WINDOW_MS) / deliveries - performance.now();
    if (next > 0) await new Promise((resolve) => setTimeout(resolve, next));
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
    const baselineLoad = await burst(bare.url, LOAD_DELIVERIES);
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
      // The reporter's comments must not pile up behind GitHub's 1 s spacing until stop().
      TELECODER_GITHUB_WRITE_INTERVAL: '1ms',
      ANTHROPIC_API_KEY: 'bench',
    });
    const app = new TeleCoderBuilder().withConfig(config).withLogger(createLogger('silent')).build();
    await app.start();
    const measured = await burst(app.url);
    // Sessions are created from the inbox after the answers.
    await app.webhookInbox?.idle();
    const sessions = app.store.listSessions({ limit: 100_000 }).length;
    const measuredLoad = await burst(app.url, LOAD_DELIVERIES);
    const drainStarted = performance.now();
    await app.webhookInbox?.idle();
    const drainMs = performance.now() - drainStarted;
    const sessionsAfterLoad = app.store.listSessions({ limit: 100_000 }).length - sessions;
    await app.stop();

    const writers = (count: number) => Array.from({ length: count }, (_, index) => index).filter((index) => index % 5 !== 4).length;
    const expected = writers(DELIVERIES);
    const lost = writers(LOAD_DELIVERIES) - sessionsAfterLoad;
    const row = (name: string, run: { times: number[]; failures: number }) =>
      `${name.padEnd(26)} p50 ${percentile(run.times, 50).toFixed(1).padStart(7)} ms   p99 ${percentile(run.times, 99).toFixed(1).padStart(7)} ms   non-2xx ${run.failures}`;
    const ratio = (run: { times: number[] }, floor: { times: number[] }) =>
      `ratio p50 ${(percentile(run.times, 50) / percentile(floor.times, 50)).toFixed(2)}×, p99 ${(percentile(run.times, 99) / percentile(floor.times, 99)).toFixed(2)}×`;
    console.log(`Webhook acknowledgement — ${DELIVERIES} signed deliveries over ${WINDOW_MS / 1000} s, Node ${process.version}`);
    console.log(row('bare Probot app', baseline));
    console.log(row('TeleCoder', measured));
    console.log(`${ratio(measured, baseline)}; sessions created ${sessions} of ${expected} expected`);
    console.log(`Webhook inbox at ${LOAD_DELIVERIES / (WINDOW_MS / 1000)}/s — ${LOAD_DELIVERIES} signed deliveries over ${WINDOW_MS / 1000} s`);
    console.log(row('bare Probot app', baselineLoad));
    console.log(row('TeleCoder', measuredLoad));
    console.log(
      `${ratio(measuredLoad, baselineLoad)}; lost ${lost} (sessions ${sessionsAfterLoad} of ${writers(LOAD_DELIVERIES)}), ` +
        `inbox drained ${(drainMs / 1000).toFixed(1)} s after the last answer`,
    );
    if (sessions !== expected || lost !== 0 || measuredLoad.failures > 0) process.exitCode = 1;
  } finally {
    await github.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
