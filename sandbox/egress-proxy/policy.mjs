// @ts-check
// What the egress proxy lets through: which host names (the policy) and which addresses (never
// the host, other containers, the local network or cloud metadata, whatever the policy says).
// Runs inside TeleCoder's egress-proxy container; see docs/egress.md.
import ipaddr from 'ipaddr.js';

/**
 * ipaddr.js range names no sandbox may reach. The documentation and benchmarking ranges
 * ("reserved") stay reachable: nothing on a host lives there by default, and some sites' egress
 * gateways answer public names with such addresses. The host's own networks are refused
 * separately (`deny`), whatever range they are in.
 */
const REFUSED_V4 = new Map([
  ['unspecified', 'an unspecified address'],
  ['broadcast', 'a broadcast address'],
  ['multicast', 'a multicast address'],
  ['linkLocal', 'a link-local address (where cloud metadata services live)'],
  ['loopback', 'a loopback address'],
  ['carrierGradeNat', 'a shared (carrier-grade NAT) address'],
  ['private', 'a private address'],
]);
const REFUSED_V6 = new Map([
  ['unspecified', 'an unspecified address'],
  ['linkLocal', 'a link-local address'],
  ['multicast', 'a multicast address'],
  ['loopback', 'a loopback address'],
  ['uniqueLocal', 'a private (unique local) address'],
  ['deprecatedSiteLocal', 'a site-local address'],
  ['discard', 'a discard-only address'],
  // Tunnels to IPv4 addresses that cannot be checked here: refused outright.
  ['6to4', 'a 6to4 tunnel address'],
  ['teredo', 'a Teredo tunnel address'],
]);

/**
 * @typedef {'registries' | 'open'} EgressMode
 * @typedef {{ mode: EgressMode, allow: readonly string[], deny: readonly string[] }} PolicyOptions
 * @typedef {{
 *   mode: EgressMode,
 *   hostAllowed(host: string): boolean,
 *   addressRefusal(address: string): string | undefined,
 * }} EgressPolicy
 */

/** Lower case, without the root's trailing dot: `Registry.npmjs.org.` is `registry.npmjs.org`. */
export function normalizeHost(host) {
  const lower = host.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/**
 * @param {PolicyOptions} options `allow`: host names, `*.example.com` for any subdomain of
 * example.com (not example.com itself); `deny`: CIDRs refused besides the fixed ranges (the
 * TeleCoder host's own networks).
 * @returns {EgressPolicy}
 */
export function createPolicy(options) {
  const exact = new Set();
  const suffixes = [];
  for (const entry of options.allow) {
    const host = normalizeHost(entry.trim());
    if (!host) continue;
    if (host.startsWith('*.')) suffixes.push(host.slice(1));
    else exact.add(host);
  }
  const deny = options.deny.map((cidr) => ipaddr.parseCIDR(cidr));

  return {
    mode: options.mode,
    hostAllowed(host) {
      if (options.mode === 'open') return true;
      const name = normalizeHost(host);
      if (exact.has(name)) return true;
      // `*.example.com` names subdomains; an address literal is never one.
      return !ipaddr.isValid(name) && suffixes.some((suffix) => name.endsWith(suffix));
    },
    addressRefusal(address) {
      let parsed;
      try {
        parsed = ipaddr.parse(address);
      } catch {
        return 'not an IP address';
      }
      const checked = embeddedIPv4(parsed) ?? parsed;
      const range = checked.range();
      const refused = checked.kind() === 'ipv4' ? REFUSED_V4.get(range) : REFUSED_V6.get(range);
      if (refused) return refused;
      if (checked.kind() === 'ipv6' && range === 'rfc6052') return 'a local-use NAT64 address';
      for (const [network, bits] of deny) {
        if (network.kind() === checked.kind() && checked.match(network, bits)) {
          return "an address on the TeleCoder host's own network";
        }
      }
      return undefined;
    },
  };
}

/**
 * The IPv4 address an IPv6 address stands for (IPv4-mapped, IPv4-translated, or the well-known
 * NAT64 prefix 64:ff9b::/96, which a NAT64 gateway turns into that IPv4 address), so the IPv4 rules
 * apply to it. Undefined for any other address.
 * @param {ipaddr.IPv4 | ipaddr.IPv6} address
 * @returns {ipaddr.IPv4 | undefined}
 */
function embeddedIPv4(address) {
  if (address.kind() !== 'ipv6') return undefined;
  const v6 = /** @type {ipaddr.IPv6} */ (address);
  if (v6.isIPv4MappedAddress()) return v6.toIPv4Address();
  const range = v6.range();
  const wellKnownNat64 = range === 'rfc6052' && v6.match(ipaddr.IPv6.parse('64:ff9b::'), 96);
  if (range !== 'rfc6145' && !wellKnownNat64) return undefined;
  const [high = 0, low = 0] = v6.parts.slice(6);
  return new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
}
