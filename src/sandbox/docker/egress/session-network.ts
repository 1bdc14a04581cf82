import type Dockerode from 'dockerode';
import { statusCodeOf } from '../docker-sandbox.js';

/** Marks a sandbox's own network. */
export const SESSION_NETWORK_LABEL = 'telecoder.egress-network';

/*
 * Every sandbox gets a network of its own that no other sandbox is on. `Internal` leaves it
 * without a route out, and `inhibit_ipv4` gives the host no address on its bridge, so the host's
 * ports are not reachable from it either (a plain internal network still reaches the host through
 * its gateway address). The only other member is TeleCoder's egress proxy.
 */

/** Creates the session's network and answers its id; one left by an earlier attempt is replaced. */
export async function createSessionNetwork(docker: Dockerode, name: string, labels: Record<string, string>): Promise<string> {
  const create = () =>
    docker.createNetwork({
      Name: name,
      Driver: 'bridge',
      CheckDuplicate: true,
      Internal: true,
      EnableIPv6: false,
      Labels: labels,
      Options: { 'com.docker.network.bridge.inhibit_ipv4': 'true' },
    });
  try {
    return (await create()).id;
  } catch (error) {
    if (statusCodeOf(error) === 409) {
      await removeSessionNetwork(docker, name);
      return (await create().catch(explain)).id;
    }
    return explain(error);
  }
}

/** Removes a session's network, disconnecting whatever is still on it (the proxy, a stopped sandbox). */
export async function removeSessionNetwork(docker: Dockerode, idOrName: string): Promise<void> {
  const network = docker.getNetwork(idOrName);
  let info: Dockerode.NetworkInspectInfo;
  try {
    info = (await network.inspect()) as Dockerode.NetworkInspectInfo;
  } catch (error) {
    if (statusCodeOf(error) === 404) return;
    throw error;
  }
  for (const container of Object.keys(info.Containers ?? {})) {
    await network.disconnect({ Container: container, Force: true }).catch(() => undefined);
  }
  try {
    await network.remove();
  } catch (error) {
    if (statusCodeOf(error) !== 404) throw error;
  }
}

/** The sandbox networks carrying all of these labels (`key=value`). */
export async function listSessionNetworks(docker: Dockerode, scope: string[]): Promise<Array<{ id: string }>> {
  const networks = await docker.listNetworks({ filters: { label: [SESSION_NETWORK_LABEL, ...scope] } });
  return networks.map((network) => ({ id: network.Id }));
}

function explain(error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  if (/address pools?|non-overlapping/i.test(message)) {
    throw new Error(
      `Docker has no free address range for another sandbox network (${message}). Each session has a network of its own ` +
        "and Docker's default pools hold about 30: end idle chats, lower TELECODER_MAX_CONCURRENT, or give the Docker daemon more " +
        'ranges with "default-address-pools" in /etc/docker/daemon.json.',
      { cause: error },
    );
  }
  throw error;
}
