import { networkInterfaces } from 'node:os';

/**
 * The networks this machine has an address on, as CIDRs: the proxy refuses them whatever range
 * they are in, so neither the host's services (listening on 0.0.0.0 and reached through one of
 * its public addresses) nor its neighbours are reachable from a sandbox. Private, loopback and
 * link-local ranges are refused by the proxy anyway. Where the server itself runs in a container
 * these are the container's networks, not the Docker host's (see docs/egress.md).
 */
export function hostNetworks(interfaces = networkInterfaces()): string[] {
  const cidrs = new Set<string>();
  for (const entries of Object.values(interfaces)) {
    for (const entry of entries ?? []) {
      if (entry.internal || !entry.cidr) continue;
      cidrs.add(entry.cidr);
    }
  }
  return [...cidrs];
}
