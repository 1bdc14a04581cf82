import { createHash } from 'node:crypto';
import type Dockerode from 'dockerode';
import type { Logger } from '../../../logger.js';
import type { BlockedEgress } from '../../runtime.js';
import { forceRemove, statusCodeOf } from '../docker-sandbox.js';
import { ensureProxyImage, PROXY_DIR } from './proxy-image.js';
import { followLogs, parseProxyReport, type FollowedLogs, type ProxyReport } from './proxy-reports.js';

/** Marks the proxy's container (it is not a sandbox: the sandbox sweep leaves it alone). */
export const PROXY_LABEL = 'telecoder.egress-proxy';
const CONFIG_LABEL = 'telecoder.egress-proxy.config';
export const PROXY_PORT = 3128;
const START_TIMEOUT_MS = 30_000;
/** Distinct refused hosts reported per session; a sandbox that keeps trying new ones is not news. */
const MAX_REPORTED_PER_SESSION = 20;

export interface EgressProxyOptions {
  docker: Dockerode;
  /** The proxy runs on this image's node (its own image adds the proxy's files to it). */
  sandboxImage: string;
  /** sandbox/egress-proxy. */
  sourceDir: string;
  /** Container name: one proxy per TeleCoder server. */
  name: string;
  /** Labels of the server's own (its instance), added to the proxy's. */
  labels: Record<string, string>;
  mode: 'registries' | 'open';
  /** Host names allowed under `registries`. */
  allow: readonly string[];
  /** CIDRs refused besides the fixed ranges: the host's own networks. */
  deny: readonly string[];
  logger?: Logger | undefined;
}

interface Attachment {
  sessionId: string;
  /** The proxy container the address belongs to: a replaced proxy has to join again. */
  container: Dockerode.Container;
  address: string;
  onBlocked: ((blocked: BlockedEgress) => void) | undefined;
  reported: Set<string>;
}

/**
 * TeleCoder's egress proxy: one long-lived, locked-down container on Docker's default bridge (its
 * way out), connected to each session's internal network. Sandboxes reach the outside only through
 * it. It is started on demand, started again if it died, and removed at shutdown. Its refusals
 * come back through its log and are handed to the session whose network they came in on.
 */
export class EgressProxy {
  readonly #options: EgressProxyOptions;
  readonly #configHash: string;
  /** By network id. */
  readonly #attached = new Map<string, Attachment>();
  #ensuring: Promise<Dockerode.Container> | undefined;
  #containerId: string | undefined;
  #follow: { logs: FollowedLogs | undefined; stopped: boolean; last: string | undefined } | undefined;
  #listening: (() => void) | undefined;
  #closed = false;

  constructor(options: EgressProxyOptions) {
    this.#options = options;
    this.#configHash = createHash('sha256')
      .update(JSON.stringify([options.mode, [...options.allow].sort(), [...options.deny].sort()]))
      .digest('hex')
      .slice(0, 16);
  }

  /**
   * Connects the proxy to a session's network and answers the proxy's address there (what the
   * sandbox's HTTP(S)_PROXY point at). Refusals arriving on that address go to `onBlocked`.
   */
  async attach(networkId: string, sessionId: string, onBlocked?: (blocked: BlockedEgress) => void): Promise<string> {
    this.#closed = false;
    const container = await this.#ensure();
    // A spare network the running proxy joined already: only the session changes hands.
    const joined = this.#attached.get(networkId);
    const address = joined?.container === container ? joined.address : await this.#connect(container, networkId);
    this.#attached.set(networkId, { sessionId, container, address, onBlocked, reported: new Set() });
    return address;
  }

  /** Forgets a session's network (the network itself is removed by its owner). */
  detach(networkId: string): void {
    this.#attached.delete(networkId);
  }

  /** Stops following the proxy and removes its container. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#stopFollowing();
    this.#attached.clear();
    const pending = this.#ensuring;
    this.#ensuring = undefined;
    await pending?.catch(() => undefined);
    this.#containerId = undefined;
    await forceRemove(this.#options.docker.getContainer(this.#options.name));
  }

  /** The running proxy; created, or replaced when it is gone, stopped or set up differently. */
  #ensure(): Promise<Dockerode.Container> {
    const current = this.#ensuring;
    const next = (async () => {
      const existing = await current?.catch(() => undefined);
      if (existing && (await isRunning(existing))) return existing;
      return this.#start();
    })();
    this.#ensuring = next;
    return next;
  }

  async #start(): Promise<Dockerode.Container> {
    const { docker, name, logger } = this.#options;
    const found = docker.getContainer(name);
    const info = await found.inspect().catch((error: unknown) => {
      if (statusCodeOf(error) === 404) return undefined;
      throw error;
    });
    if (info?.State.Running && info.Config.Labels?.[CONFIG_LABEL] === this.#configHash) {
      // Left by an earlier server with the same settings: its old refusals are not news.
      this.#startFollowing(found, info.Id, dockerTimestamp(new Date()));
      await this.#reconnect(found);
      return found;
    }
    if (info) await forceRemove(found);

    const image = await ensureProxyImage({ docker, sandboxImage: this.#options.sandboxImage, sourceDir: this.#options.sourceDir, logger });
    const container = await docker.createContainer({
      name,
      Image: image,
      Cmd: ['node', `${PROXY_DIR}/main.mjs`],
      User: '65534:65534',
      Env: [
        `EGRESS_MODE=${this.#options.mode}`,
        `EGRESS_ALLOW=${this.#options.allow.join(',')}`,
        `EGRESS_DENY=${this.#options.deny.join(',')}`,
        `EGRESS_PORT=${PROXY_PORT}`,
      ],
      Labels: { ...this.#options.labels, [PROXY_LABEL]: 'true', [CONFIG_LABEL]: this.#configHash },
      HostConfig: {
        Init: true,
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges:true'],
        Privileged: false,
        ReadonlyRootfs: true,
        Memory: 256 * 1024 * 1024,
        MemorySwap: 256 * 1024 * 1024,
        NanoCpus: 1e9,
        PidsLimit: 64,
        // Docker's default bridge is the proxy's way out; session networks are joined one by one.
        NetworkMode: 'bridge',
        // Docker starts it again if it crashes, on the same networks and addresses.
        RestartPolicy: { Name: 'on-failure' },
        // Its log carries the refusals the server follows; bounded.
        LogConfig: { Type: 'json-file', Config: { 'max-size': '5m', 'max-file': '2' } },
        Binds: [],
      },
    });
    const listening = new Promise<void>((resolve) => (this.#listening = resolve));
    await container.start();
    this.#startFollowing(container, container.id);
    const started = await Promise.race([
      listening.then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), START_TIMEOUT_MS).unref()),
    ]);
    if (!started) {
      const output = await container.logs({ stdout: true, stderr: true, tail: 20 }).catch(() => '');
      throw new Error(
        `TeleCoder's egress proxy (container ${name}) did not start within ${START_TIMEOUT_MS / 1000} s: ${String(output).trim().slice(-1000) || 'no output'}. ` +
          'Check "docker logs ' + name + '"; TELECODER_EGRESS=none runs sandboxes without network and without the proxy.',
      );
    }
    logger?.info({ container: container.id, mode: this.#options.mode }, 'egress proxy started');
    await this.#reconnect(container);
    return container;
  }

  async #connect(container: Dockerode.Container, networkId: string): Promise<string> {
    const network = this.#options.docker.getNetwork(networkId);
    try {
      await network.connect({ Container: container.id });
    } catch (error) {
      // 403: already connected (a reused proxy), which is as good.
      if (statusCodeOf(error) !== 403) throw error;
    }
    const info = await container.inspect();
    const endpoint = Object.values(info.NetworkSettings.Networks).find((entry) => entry.NetworkID === networkId);
    if (!endpoint?.IPAddress) throw new Error(`the egress proxy has no address on network ${networkId} after joining it`);
    return endpoint.IPAddress;
  }

  /** A proxy that was replaced joins the networks of the sessions still running. */
  async #reconnect(container: Dockerode.Container): Promise<void> {
    for (const [networkId, attachment] of this.#attached) {
      try {
        const address = await this.#connect(container, networkId);
        if (address !== attachment.address) {
          this.#options.logger?.warn({ session: attachment.sessionId, was: attachment.address, now: address }, 'the egress proxy came back on another address; that sandbox loses its network');
        }
        this.#attached.set(networkId, { ...attachment, container, address });
      } catch (error) {
        this.#options.logger?.warn({ err: error, session: attachment.sessionId }, 'could not reconnect the egress proxy to a session network');
      }
    }
  }

  /** Follows the proxy's reports (those stamped after `after`, when given). */
  #startFollowing(container: Dockerode.Container, id: string, after?: string): void {
    if (this.#containerId === id && this.#follow && !this.#follow.stopped) return;
    this.#stopFollowing();
    this.#containerId = id;
    const follow: { logs: FollowedLogs | undefined; stopped: boolean; last: string | undefined } = { logs: undefined, stopped: false, last: after };
    this.#follow = follow;
    void (async () => {
      // Follows again after a restart, from the last line seen, until the container is gone.
      while (!follow.stopped && !this.#closed) {
        try {
          follow.logs = await followLogs(container, {
            sinceSeconds: follow.last ? Math.floor(Date.parse(follow.last) / 1000) : 0,
            ...(follow.last ? { after: follow.last } : {}),
            onLine: (line, timestamp) => {
              follow.last = timestamp;
              const report = parseProxyReport(line);
              if (report) this.#handle(report);
            },
          });
          await follow.logs.ended;
        } catch (error) {
          if (statusCodeOf(error) === 404) break;
        }
        if (follow.stopped || this.#closed) break;
        await new Promise((resolve) => setTimeout(resolve, 1_000).unref());
        if (!(await container.inspect().then(() => true, () => false))) break;
      }
    })();
  }

  #stopFollowing(): void {
    if (!this.#follow) return;
    this.#follow.stopped = true;
    this.#follow.logs?.stop();
    this.#follow = undefined;
  }

  #handle(report: ProxyReport): void {
    if (report.event === 'listening') {
      this.#listening?.();
      this.#listening = undefined;
      return;
    }
    const attachment = [...this.#attached.values()].find((entry) => entry.address === report.via);
    if (!attachment) return;
    const key = `${report.host}\0${report.reason}`;
    if (attachment.reported.has(key)) return;
    if (attachment.reported.size >= MAX_REPORTED_PER_SESSION) return;
    attachment.reported.add(key);
    this.#options.logger?.info({ session: attachment.sessionId, host: report.host, port: report.port, reason: report.reason }, 'egress blocked');
    try {
      attachment.onBlocked?.({ host: report.host, port: report.port, reason: report.reason, detail: report.detail });
    } catch (error) {
      this.#options.logger?.warn({ err: error, session: attachment.sessionId }, 'reporting blocked egress failed');
    }
  }
}

/** A time as Docker stamps log lines (RFC 3339, nine fraction digits), so stamps compare as text. */
function dockerTimestamp(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');
}

async function isRunning(container: Dockerode.Container): Promise<boolean> {
  try {
    return (await container.inspect()).State.Running;
  } catch {
    return false;
  }
}

