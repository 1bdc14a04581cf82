import { join } from 'node:path';
import { BuiltinAgent } from './agent/builtin-agent.js';
import type { CodingAgent } from './agent/coding-agent.js';
import { AgentCatalogue } from './agent/agent-catalogue.js';
import { externalAgents } from './agent/external/external-agents.js';
import { createGatewayFromConfig } from './gateway/gateway-from-config.js';
import type { LLMGateway } from './gateway/llm-gateway-types.js';
import { loadConfig, type Config } from './config/config.js';
import { writeGitHubAppEnv } from './config/github-app-env-file.js';
import { Engine } from './engine/engine.js';
import { sessionParts, warmRequestFor } from './engine/session-parts.js';
import { RepoMirrors } from './git/repo-mirrors.js';
import type { EventBus } from './events/event-bus.js';
import { InMemoryEventBus } from './events/in-memory-event-bus.js';
import { GitHubProvider } from './gitprovider/github-provider.js';
import { LocalRepoProvider } from './gitprovider/local-provider.js';
import { InstallationTokenSource } from './gitprovider/installation-token-source.js';
import type { GitProvider, TokenSource } from './gitprovider/provider.js';
import { StaticTokenSource } from './gitprovider/static-token-source.js';
import { createApiHandler } from './http/api-handler.js';
import { createDashboardHandler } from './server/dashboard-handler.js';
import { packageVersion } from './cli/package-version.js';
import type { LLMClient } from './llm/client.js';
import { configuredProvider, createLLMClient } from './llm/create-llm-client.js';
import { createLogger, type Logger } from './logger.js';
import { defaultPipeline } from './pipeline/default-pipeline.js';
import type { Pipeline } from './pipeline/pipeline.js';
import { DockerRuntime } from './sandbox/docker/docker-runtime.js';
import { removeLegacySandboxes } from './sandbox/docker/legacy-sandboxes.js';
import { egressSettings } from './sandbox/egress/egress-settings.js';
import type { Runtime } from './sandbox/runtime.js';
import { createTeleCoderApp } from './github/app/telecoder-app.js';
import { BackgroundWork } from './github/app/background-work.js';
import { TrackingCommentReporter } from './github/app/tracking-comment-reporter.js';
import { InboxProcessor, type InboxProcessorOptions } from './github/inbox/inbox-processor.js';
import { inboxHandler } from './github/inbox/handle-inbox-delivery.js';
import { RepoConfigCache } from './github/inbox/repo-config-cache.js';
import { SqliteWebhookInbox } from './github/inbox/sqlite-webhook-inbox.js';
import { createHttpServer, type Handler, type RunningHttpServer } from './server/create-http-server.js';
import { packageRoot } from './server/package-root.js';
import { SqliteSandboxClaims } from './store/sqlite/sqlite-sandbox-claims.js';
import { SqliteSessionStore } from './store/sqlite/sqlite-session-store.js';
import type { SessionStore } from './store/session-store.js';
import { GitHubWriteLimiter } from './github/github-write-limiter.js';
import type { Channel, ChannelFactory } from './channels/channel.js';
import { telegramChannel } from './channels/telegram/telegram-channel.js';
import { slackChannel } from './channels/slack/slack-channel.js';

export type LLMFactory = (model?: string) => LLMClient;

/**
 * How long stop() waits for GitHub writes: `docker stop` sends SIGKILL 10 s after SIGTERM, and
 * the engine's own wait for running sessions (at most 8 s) comes out of the same budget.
 */
const STOP_BUDGET_MS = 9_000;

/** Of that budget, what deliveries being handled from the webhook inbox may take (the rest stay stored). */
const INBOX_STOP_BUDGET_MS = 3_000;

/** How the webhook inbox is worked through; tests shorten the retries or start it paused. */
export type WebhookInboxOptions = Pick<InboxProcessorOptions, 'concurrency' | 'retryDelaysMs' | 'keepDoneMs' | 'paused'> & {
  /** How long a repository's missing `.github/telecoder.yml` is believed missing (default 60 s; 0: asked every time). */
  missingConfigMs?: number;
};

/**
 * Composes a TeleCoder application. Every part has a built-in default; `with…` replaces one.
 *
 *   const app = new TeleCoderBuilder().withConfig(loadConfig()).build();
 *   await app.start();
 */
export class TeleCoderBuilder {
  #config?: Config;
  #logger?: Logger;
  #store?: SessionStore;
  #bus?: EventBus;
  #runtime?: Runtime;
  #providers: GitProvider[] = [];
  #replaceProviders = false;
  #agent?: CodingAgent;
  #llm?: LLMFactory;
  #handlers: Handler[] = [];
  #chatReapIntervalMs?: number;
  #pipeline?: Pipeline | ((pipeline: Pipeline) => Pipeline);
  #channels: ChannelFactory[] = [];
  #webhookInbox: WebhookInboxOptions = {};

  withConfig(config: Config): this {
    this.#config = config;
    return this;
  }
  withLogger(logger: Logger): this {
    this.#logger = logger;
    return this;
  }
  withStore(store: SessionStore): this {
    this.#store = store;
    return this;
  }
  withEventBus(bus: EventBus): this {
    this.#bus = bus;
    return this;
  }
  withSandbox(runtime: Runtime): this {
    this.#runtime = runtime;
    return this;
  }
  /** Adds a provider asked before the built-in ones (GitHub, local paths). */
  withGitProvider(provider: GitProvider): this {
    this.#providers.push(provider);
    return this;
  }
  /** Uses exactly these providers, none of the built-in ones. */
  withGitProviders(providers: GitProvider[]): this {
    this.#providers = [...providers];
    this.#replaceProviders = true;
    return this;
  }
  withAgent(agent: CodingAgent): this {
    this.#agent = agent;
    return this;
  }
  /** A client for every session, or a factory that gets the session's model. */
  withLLM(llm: LLMClient | LLMFactory): this {
    this.#llm = typeof llm === 'function' ? llm : () => llm;
    return this;
  }
  /**
   * The stages of a task: a Pipeline, or an edit of the one TELECODER_STAGES describes, e.g.
   * `withPipeline((p) => p.replace('review', myReview).remove('index'))`.
   */
  withPipeline(pipeline: Pipeline | ((pipeline: Pipeline) => Pipeline)): this {
    this.#pipeline = pipeline;
    return this;
  }
  /** How often idle chats are looked for (default 30 s); tests make it short. */
  withChatReapInterval(ms: number): this {
    this.#chatReapIntervalMs = ms;
    return this;
  }
  /** An extra HTTP handler served on the same port (a dashboard, a chat webhook). */
  withHttpHandler(handler: Handler): this {
    this.#handlers.push(handler);
    return this;
  }

  /**
   * Adds a chat door (Slack, Telegram, your own): started with the app once the engine takes
   * work, stopped before it closes. The built-in doors are added when their tokens are set.
   */
  withChannel(channel: ChannelFactory): this {
    this.#channels.push(channel);
    return this;
  }

  /** How GitHub deliveries stored in the webhook inbox are handled (concurrency, retries, paused). */
  withWebhookInbox(options: WebhookInboxOptions): this {
    // Each call adds to the settings before it.
    this.#webhookInbox = { ...this.#webhookInbox, ...options };
    return this;
  }

  build(): TeleCoder {
    const config = this.#config ?? loadConfig();
    const logger = this.#logger ?? createLogger(config.logLevel, undefined, config.logFormat);
    const databaseFile = join(config.dataDir, 'telecoder.db');
    const store = this.#store ?? SqliteSessionStore.open({ file: databaseFile });
    // Claims of warm sandboxes live beside the sessions they belong to (a custom store keeps none).
    const claims = this.#runtime || this.#store ? undefined : SqliteSandboxClaims.open({ file: databaseFile });
    const bus = this.#bus ?? new InMemoryEventBus({ logger });
    const runtime =
      this.#runtime ??
      new DockerRuntime({
        image: config.sandbox.image,
        baseImage: config.sandbox.baseImage,
        ...(config.sandbox.caCertsFile ? { caCertsFile: config.sandbox.caCertsFile } : {}),
        contextDir: join(packageRoot(), 'sandbox'),
        logger,
        // Servers sharing one Docker engine must not sweep each other's sandboxes. The id comes from
        // the database, not the data dir's path: two deployments may both keep their data at /data.
        instanceLabel: store.instanceId(),
        // What sandboxes reach, enforced by the runtime's egress proxy (docs/egress.md).
        egress: egressSettings(config.sandbox),
        warmSandboxes: config.sandbox.warmSandboxes,
        ...(claims ? { claims } : {}),
      });
    // Every GitHub write of this process, the provider's and the App's, waits in one queue.
    const githubWriteLimiter = new GitHubWriteLimiter({ intervalMs: config.githubWriteIntervalMs });
    const builtInProviders: GitProvider[] = [
      new LocalRepoProvider(),
      new GitHubProvider({
        tokenSource: githubTokenSource(config),
        apiUrl: config.githubApiUrl,
        gitUrl: config.githubGitUrl,
        writeLimiter: githubWriteLimiter,
      }),
    ];
    const providers = this.#replaceProviders ? this.#providers : [...this.#providers, ...builtInProviders];
    const llm = this.#llm ?? cachedLLMFactory(config);
    const pipeline =
      typeof this.#pipeline === 'function' ? this.#pipeline(defaultPipeline(config.pipeline.stages)) : this.#pipeline;
    const gateway = this.#agent ? undefined : createGatewayFromConfig(config, logger);
    const agents = new AgentCatalogue(
      this.#agent
        ? // A custom agent is the only one: sessions naming another are refused.
          { agents: [this.#agent], defaultChoice: this.#agent.name, provider: () => configuredProvider(config.llm) }
        : {
            agents: [new BuiltinAgent(), ...externalAgents({ gateway: gateway!, config })],
            defaultChoice: config.agent.name,
            provider: () => configuredProvider(config.llm),
          },
    );
    const mirrors = new RepoMirrors({ dir: join(config.dataDir, 'mirrors') });
    const engine = new Engine({
      store,
      bus,
      runtime,
      providers,
      agents,
      allowedModels: config.llm.allowedModels,
      llm,
      mirrors,
      // The configuration becomes each session's parts here, not in the engine.
      parts: sessionParts({ config, runtime, providers, agents, llm, mirrors, pipeline: pipeline ?? defaultPipeline(config.pipeline.stages) }),
      config,
      logger,
      ...(this.#chatReapIntervalMs !== undefined ? { chatReapIntervalMs: this.#chatReapIntervalMs } : {}),
      warmRequestFor: (repo) => warmRequestFor(config, repo),
    });
    // Only the built-in Docker runtime ever used the path-based label (see legacy-sandboxes.ts).
    const sweepLegacy = this.#runtime
      ? undefined
      : () => removeLegacySandboxes({ dataDir: config.dataDir, isOwnSession: (id) => store.getSession(id) !== undefined, logger });
    return new TeleCoder({
      config,
      logger,
      store,
      bus,
      runtime,
      engine,
      handlers: this.#handlers,
      githubWriteLimiter,
      channels: [...this.#channels, ...builtInChannels(config)],
      webhookInbox: this.#webhookInbox,
      ...(claims ? { sandboxClaims: claims } : {}),
      ...(gateway ? { gateway } : {}),
      ...(sweepLegacy ? { sweepLegacy } : {}),
    });
  }
}

/** The chat doors whose tokens are configured. */
function builtInChannels(config: Config): ChannelFactory[] {
  const channels: ChannelFactory[] = [];
  if (config.slack) channels.push(slackChannel({ config: config.slack }));
  if (config.telegram) channels.push(telegramChannel({ config: config.telegram }));
  return channels;
}

/**
 * A configured GitHub App mints installation tokens per repository (scoped to what the app may
 * touch); otherwise GITHUB_TOKEN is used as it is.
 */
function githubTokenSource(config: Config): TokenSource {
  const { appId, privateKey } = config.githubApp;
  if (appId && privateKey) return new InstallationTokenSource({ appId, privateKey, apiUrl: config.githubApiUrl });
  return new StaticTokenSource(config.githubToken);
}

function cachedLLMFactory(config: Config): LLMFactory {
  const clients = new Map<string, LLMClient>();
  return (model) => {
    const key = model ?? '';
    let client = clients.get(key);
    if (!client) {
      client = createLLMClient(config.llm, model ? { model } : undefined);
      clients.set(key, client);
    }
    return client;
  };
}

interface TeleCoderParts {
  config: Config;
  logger: Logger;
  store: SessionStore;
  bus: EventBus;
  runtime: Runtime;
  engine: Engine;
  handlers: Handler[];
  /** One queue for every GitHub write of this process (the provider's and the App's). */
  githubWriteLimiter: GitHubWriteLimiter;
  /** Removes sandboxes an older TeleCoder left under the label it derived from the data dir's path. */
  sweepLegacy?: () => Promise<unknown>;
  channels: ChannelFactory[];
  /** Holds the LLM keys for external agents; closed (every grant revoked) at stop. */
  gateway?: LLMGateway;
  webhookInbox?: WebhookInboxOptions;
  /** The warm pool's claims on their own database connection, closed after the runtime. */
  sandboxClaims?: SqliteSandboxClaims;
}

/** A composed application: the engine plus the one HTTP server for the API and webhooks. */
export class TeleCoder {
  readonly config: Config;
  readonly logger: Logger;
  readonly store: SessionStore;
  readonly bus: EventBus;
  readonly runtime: Runtime;
  readonly engine: Engine;
  readonly #handlers: Handler[];
  readonly #githubWriteLimiter: GitHubWriteLimiter;
  readonly #sweepLegacy: (() => Promise<unknown>) | undefined;
  readonly #channelFactories: ChannelFactory[];
  readonly #gateway: LLMGateway | undefined;
  #channels: Channel[] = [];
  #http?: RunningHttpServer;
  #reporter?: TrackingCommentReporter;
  #background?: BackgroundWork;
  readonly #webhookInboxOptions: WebhookInboxOptions;
  readonly #sandboxClaims: SqliteSandboxClaims | undefined;
  #inbox?: SqliteWebhookInbox;
  #inboxProcessor?: InboxProcessor;

  constructor(parts: TeleCoderParts) {
    this.config = parts.config;
    this.logger = parts.logger;
    this.store = parts.store;
    this.bus = parts.bus;
    this.runtime = parts.runtime;
    this.engine = parts.engine;
    this.#handlers = parts.handlers;
    this.#githubWriteLimiter = parts.githubWriteLimiter;
    this.#sweepLegacy = parts.sweepLegacy;
    this.#channelFactories = parts.channels;
    this.#gateway = parts.gateway;
    this.#webhookInboxOptions = parts.webhookInbox ?? {};
    this.#sandboxClaims = parts.sandboxClaims;
  }

  /** The key-holding LLM gateway external agents use (undefined when a custom agent replaced them). */
  get gateway(): LLMGateway | undefined {
    return this.#gateway;
  }

  /** The chat doors this app started. */
  get channels(): readonly Channel[] {
    return this.#channels;
  }

  /** The server's base URL once started. */
  get url(): string {
    if (!this.#http) throw new Error('TeleCoder is not started; call start() first');
    return this.#http.url;
  }

  /**
   * Builds the HTTP server and loads the GitHub App (so the Probot instance exists), subscribes
   * the tracking-comment reporter, then starts the engine — whose recovery of interrupted
   * sessions is reported like any other event — and only then listens.
   */
  async start(): Promise<void> {
    const { githubApp } = this.config;
    const appConfigured = Boolean(githubApp.appId && githubApp.privateKey);
    const api = createApiHandler({
      service: this.engine,
      caches: this.engine,
      branches: this.engine,
      apiToken: this.config.apiToken,
      logger: this.logger,
      bus: this.bus,
      info: {
        version: packageVersion(),
        // Setup mode serves /probot; the dashboard shows a banner linking there.
        githubApp: { configured: appConfigured, setupUrl: appConfigured ? null : '/probot' },
        budget: { maxTokens: this.config.pipeline.maxTokens ?? null, maxCostUsd: this.config.pipeline.maxCostUsd ?? null },
      },
    });
    this.#background = new BackgroundWork(this.logger);
    // GitHub deliveries are stored before they are answered and handled afterwards (see
    // createTeleCoderApp); the inbox lives in the data dir's database, beside the sessions.
    let probot: Awaited<ReturnType<typeof createHttpServer>>['probot'];
    const { missingConfigMs, ...processorOptions } = this.#webhookInboxOptions;
    const configCache = new RepoConfigCache({ logger: this.logger, missingForMs: missingConfigMs });
    const inbox = appConfigured ? (this.#inbox = SqliteWebhookInbox.open({ file: join(this.config.dataDir, 'telecoder.db') })) : undefined;
    const inboxProcessor = inbox
      ? (this.#inboxProcessor = new InboxProcessor({
          ...processorOptions,
          inbox,
          logger: this.logger,
          // A crash between claiming a delivery and storing its session left the claim alone:
          // give it back, or the delivery would look handled (a claim with a session stays).
          recover: (delivery) => this.store.releaseDelivery(delivery.id),
          handle: inboxHandler({
            service: this.engine,
            deliveries: this.store,
            triggerLabel: githubApp.triggerLabel,
            logger: this.logger,
            background: this.#background,
            configCache,
            auth: (installationId) => {
              if (!probot) throw new Error('the GitHub App is not loaded; check APP_ID and PRIVATE_KEY');
              return probot.auth(installationId);
            },
          }),
        }))
      : undefined;
    const prepared = await createHttpServer({
      host: this.config.addr.host,
      port: this.config.addr.port,
      logger: this.logger,
      // The dashboard takes `/` (the setup pages stay under /probot); it needs no token, the API does.
      handlers: [api, createDashboardHandler({ logger: this.logger }), ...this.#handlers],
      appId: githubApp.appId,
      privateKey: githubApp.privateKey,
      webhookSecret: githubApp.webhookSecret,
      webhookPath: githubApp.webhookPath,
      webhookProxyUrl: githubApp.webhookProxyUrl,
      githubApiUrl: this.config.githubApiUrl,
      githubWriteLimiter: this.#githubWriteLimiter,
      apiToken: this.config.apiToken,
      publicUrl: this.config.publicUrl,
      // Setup mode: a registered App's keys go to the data dir (0600), read by the next start.
      saveAppCredentials: (values) => writeGitHubAppEnv(this.config.dataDir, values),
      app: createTeleCoderApp({
        accept: (delivery) => inboxProcessor?.accept(delivery),
        onPush: (payload) => configCache.onPush(payload),
      }),
    });
    probot = prepared.probot;
    if (probot) {
      const app = probot;
      this.#reporter = new TrackingCommentReporter({
        bus: this.bus,
        sessions: this.engine,
        auth: (installationId) => app.auth(installationId),
        logger: this.logger,
        saveOrigin: (sessionId, origin) => this.store.updateSession(sessionId, { origin }),
        publicUrl: this.config.publicUrl,
      });
      this.#reporter.start();
    }
    await this.#sweepLegacy?.().catch((error: unknown) => this.logger.warn({ err: error }, 'could not sweep sandboxes of an earlier version'));
    await this.engine.start();
    // Deliveries an earlier run acknowledged but did not finish go first, in their order.
    inboxProcessor?.start();
    this.#http = await prepared.listen();
    this.logger.info({ url: this.#http.url, githubApp: Boolean(probot) }, 'TeleCoder is listening');
    const context = { sessions: this.engine, bus: this.bus, store: this.store, logger: this.logger, publicUrl: this.config.publicUrl };
    this.#channels = this.#channelFactories.map((make) => make(context));
    // A door that cannot reach its platform retries in the background; it never fails start-up.
    await Promise.all(this.#channels.map((channel) => channel.start()));
  }

  /** The GitHub tracking-comment reporter, when the GitHub App is configured. */
  get githubReporter(): TrackingCommentReporter | undefined {
    return this.#reporter;
  }

  /** The webhook inbox's processor, when the GitHub App is configured (tests pause and resume it). */
  get webhookInbox(): InboxProcessor | undefined {
    return this.#inboxProcessor;
  }

  /**
   * Resolves when every stored delivery that can be handled has been, and every GitHub write
   * under way (reactions, refusals, tracking comments) is done.
   */
  async githubIdle(): Promise<void> {
    await this.#inboxProcessor?.idle();
    await this.#background?.idle();
    await this.#reporter?.idle();
  }

  /** Stops taking work, interrupts running sessions, closes the server and the store. */
  async stop(): Promise<void> {
    const deadline = Date.now() + STOP_BUDGET_MS;
    // The doors first: no new work arrives while the engine winds down.
    await Promise.all(
      this.#channels.map((channel) =>
        channel.stop().catch((error: unknown) => this.logger.warn({ err: error, channel: channel.name }, 'could not stop a chat door')),
      ),
    );
    // No new delivery is taken from the inbox; those being handled get a share of the budget, and
    // whatever is left stays stored for the next start.
    await this.#inboxProcessor?.stop(Math.min(deadline, Date.now() + INBOX_STOP_BUDGET_MS));
    await this.engine.close();
    await this.#gateway?.close().catch((error: unknown) => this.logger.warn({ err: error }, 'could not close the LLM gateway'));
    // Sessions the shutdown interrupted have ended: their doors tell the people who asked.
    await Promise.all(
      this.#channels.map((channel) =>
        channel.close(deadline).catch((error: unknown) => this.logger.warn({ err: error, channel: channel.name }, 'could not close a chat door')),
      ),
    );
    // The egress proxy goes once the sandboxes it served are gone.
    await this.runtime.close?.().catch((error: unknown) => this.logger.warn({ err: error }, 'could not remove the warm sandboxes and the egress proxy'));
    this.#sandboxClaims?.close();
    // Interrupted sessions' final comments are written before the process lets go of GitHub, in
    // what is left of the budget.
    const left = Math.max(0, deadline - Date.now());
    await Promise.race([this.githubIdle(), new Promise((resolve) => setTimeout(resolve, left).unref())]);
    this.#reporter?.stop();
    await this.#http?.close();
    // After the server: a delivery arriving while it closed is still stored.
    this.#inbox?.close();
    this.store.close();
  }
}

export function createTeleCoder(config?: Config): TeleCoder {
  const builder = new TeleCoderBuilder();
  if (config) builder.withConfig(config);
  return builder.build();
}
