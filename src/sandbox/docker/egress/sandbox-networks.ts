import { randomBytes } from 'node:crypto';
import type Dockerode from 'dockerode';
import type { Logger } from '../../../logger.js';
import type { EgressSettings } from '../../egress/egress-settings.js';
import type { BlockedEgress, SandboxSpec } from '../../runtime.js';
import { EgressProxy, PROXY_PORT } from './egress-proxy.js';
import { proxyEnv } from './proxy-env.js';
import { createSessionNetwork, listSessionNetworks, removeSessionNetwork, SESSION_NETWORK_LABEL } from './session-network.js';

export interface SandboxNetworksOptions {
  docker: Dockerode;
  /** The sandbox image, which the proxy runs on. */
  sandboxImage: string;
  /** sandbox/egress-proxy. */
  proxySourceDir: string;
  settings: EgressSettings;
  /** CIDRs the proxy refuses besides the fixed ranges: the host's own networks. */
  deny: readonly string[];
  /** Labels every network and the proxy carry (ownership, instance); `scope` finds them again. */
  labels: Record<string, string>;
  scope: string[];
  /** Names the proxy's container apart from another server's. */
  instanceLabel: string | undefined;
  logger?: Logger | undefined;
}

/** A documentation address (RFC 5737): nothing answers DNS there, and the session network has no route to it anyway. */
const UNREACHABLE_DNS = '198.51.100.53';

/** A sandbox network with the proxy on it, ready for a sandbox. */
interface ReadyNetwork {
  id: string;
  name: string;
}

/** How a new sandbox is attached: its container settings, its environment, and what undoes it. */
export interface SandboxNetwork {
  hostConfig: Pick<Dockerode.HostConfig, 'NetworkMode' | 'Dns' | 'DnsOptions'>;
  env: string[];
  /** Removes the session's network (idempotent; failures are logged, never thrown). */
  release(): Promise<void>;
  /**
   * Hands the network of a sandbox made ahead of time to its session: the proxy's refusals are
   * reported to it from now on (and the proxy is checked to run).
   */
  bind(sessionId: string, onEgressBlocked?: (blocked: BlockedEgress) => void): Promise<void>;
}

/**
 * The network side of the egress policy: each session's own internal network, joined by the
 * egress proxy, and the proxy environment that points the sandbox at it. `none` (the policy or a
 * sandbox that asks for it) gets no network at all.
 */
export class SandboxNetworks {
  readonly #options: SandboxNetworksOptions;
  readonly #proxy: EgressProxy | undefined;
  readonly #releasing = new Set<Promise<void>>();
  /**
   * One network made and joined by the proxy ahead of time: making a network and connecting the
   * proxy to it take Docker a few hundred milliseconds, which a session would otherwise wait for.
   */
  #spare: Promise<ReadyNetwork> | undefined;
  /** Networks this process made (spare or in use): the sweep leaves them alone. */
  readonly #ours = new Set<string>();
  #closed = false;

  constructor(options: SandboxNetworksOptions) {
    this.#options = options;
    const { policy } = options.settings;
    this.#proxy =
      policy === 'none'
        ? undefined
        : new EgressProxy({
            docker: options.docker,
            sandboxImage: options.sandboxImage,
            sourceDir: options.proxySourceDir,
            name: `telecoder-egress-proxy-${options.instanceLabel ?? 'default'}`,
            labels: options.labels,
            mode: policy,
            allow: options.settings.allow,
            deny: options.deny,
            logger: options.logger,
          });
  }

  async prepare(spec: Pick<SandboxSpec, 'sessionId' | 'network' | 'onEgressBlocked'>): Promise<SandboxNetwork> {
    const proxy = this.#proxy;
    if (spec.network === 'none' || !proxy) {
      return { hostConfig: { NetworkMode: 'none' }, env: proxyEnv(undefined), release: async () => undefined, bind: async () => undefined };
    }
    const { docker, logger } = this.#options;
    this.#closed = false;
    const ready = await this.#take();
    this.warm();
    let released: Promise<void> | undefined;
    const release = () => {
      released ??= this.#track(
        (async () => {
          proxy.detach(ready.id);
          await removeSessionNetwork(docker, ready.id).catch((error: unknown) =>
            logger?.warn({ err: error, network: ready.name, session: spec.sessionId }, 'could not remove a sandbox network'),
          );
          this.#ours.delete(ready.id);
        })(),
      );
      return released;
    };
    let address: string;
    try {
      // Joined already; this only checks that the proxy still runs (it is started again and
      // rejoins when it died while the network waited) and hands it the session's reports.
      address = await proxy.attach(ready.id, spec.sessionId, spec.onEgressBlocked);
    } catch (error) {
      await release();
      throw error;
    }
    return {
      hostConfig: {
        NetworkMode: ready.name,
        // Docker's embedded DNS answers for the network's members only: its upstream is an
        // address the network cannot route to (whatever resolver the host uses, no name is
        // looked up outside through it), and a lookup gives up after a second, not twenty.
        Dns: [UNREACHABLE_DNS],
        DnsOptions: ['timeout:1', 'attempts:1'],
      },
      env: proxyEnv(`http://${address}:${PROXY_PORT}`),
      release,
      bind: async (sessionId, onEgressBlocked) => {
        const now = await proxy.attach(ready.id, sessionId, onEgressBlocked);
        // The proxy came back on another address while the sandbox waited: its proxy settings are stale.
        if (now !== address) throw new Error(`the egress proxy moved from ${address} to ${now} while the sandbox waited`);
      },
    };
  }

  /** Makes the spare network now (at start-up), so even the first session does not wait for one. */
  warm(): void {
    if (!this.#proxy || this.#spare || this.#closed) return;
    const spare = this.#make();
    spare.catch((error: unknown) => this.#options.logger?.warn({ err: error }, 'could not make a spare sandbox network; the next session makes its own'));
    this.#spare = spare;
  }

  /** The spare when there is one (a failed spare is made again), else a new network. */
  #take(): Promise<ReadyNetwork> {
    const spare = this.#spare;
    this.#spare = undefined;
    return spare ? spare.catch(() => this.#make()) : this.#make();
  }

  /**
   * A network of its own for one sandbox, joined by the proxy. Not named or labelled after a
   * session: a spare is made before its session exists (the proxy learns the session on `bind`).
   */
  async #make(): Promise<ReadyNetwork> {
    const { docker } = this.#options;
    const name = `telecoder-egress-${randomBytes(6).toString('hex')}`;
    const id = await createSessionNetwork(docker, name, { ...this.#options.labels, [SESSION_NETWORK_LABEL]: 'true' });
    this.#ours.add(id);
    try {
      await this.#proxy!.attach(id, '');
      return { id, name };
    } catch (error) {
      this.#ours.delete(id);
      await removeSessionNetwork(docker, id).catch(() => undefined);
      throw error;
    }
  }

  /**
   * Removes the session networks an earlier run left (every one this process did not make); with
   * no sandbox of ours running, the proxy too (it is started again with today's settings).
   */
  async sweep(): Promise<void> {
    const { docker, scope } = this.#options;
    if (this.#ours.size === 0) await this.#proxy?.close();
    for (const network of await listSessionNetworks(docker, scope)) {
      if (!this.#ours.has(network.id)) await removeSessionNetwork(docker, network.id);
    }
  }

  /** Waits for networks being removed, removes the spare, then the proxy. */
  async close(): Promise<void> {
    this.#closed = true;
    const spare = await this.#spare?.catch(() => undefined);
    this.#spare = undefined;
    if (spare) {
      this.#ours.delete(spare.id);
      await removeSessionNetwork(this.#options.docker, spare.id).catch(() => undefined);
    }
    await Promise.allSettled([...this.#releasing]);
    await this.#proxy?.close();
  }

  #track(pending: Promise<void>): Promise<void> {
    this.#releasing.add(pending);
    void pending.finally(() => this.#releasing.delete(pending));
    return pending;
  }
}
