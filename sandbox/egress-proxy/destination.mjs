// @ts-check
// Where a proxied request wants to go, and whether it may: the host name against the policy, then
// every address the name resolves to. The caller connects to the addresses returned here and to
// nothing else, so a name cannot resolve to one address when checked and another when used.
import { lookup as dnsLookup } from 'node:dns/promises';
import ipaddr from 'ipaddr.js';
import { normalizeHost } from './policy.mjs';

/**
 * @typedef {{ host: string, port: number }} Target
 * @typedef {(host: string) => Promise<string[]>} Resolver
 * @typedef {{ kind: 'allowed', addresses: string[] }
 *   | { kind: 'blocked', reason: 'not-allowed' | 'address', detail: string }
 *   | { kind: 'unresolvable', detail: string }} Decision
 */

/**
 * A CONNECT request's authority, `host:port` or `[v6]:port`. The host is canonicalised the way a
 * URL's is (lower case, punycode, numeric IPv4 forms such as `0x7f.1` written out), so what is
 * checked is what a client meant. Undefined when it is not an authority.
 * @param {string} authority
 * @returns {Target | undefined}
 */
export function parseAuthority(authority) {
  const match = /^(\[[0-9a-fA-F:.]+\]|[^\s:/?#@[\]]+):(\d{1,5})$/.exec(authority);
  if (!match) return undefined;
  const port = Number(match[2]);
  const host = canonicalHost(match[1] ?? '');
  if (!host || port < 1 || port > 65535) return undefined;
  return { host, port };
}

/**
 * An absolute-form request target (`http://host[:port]/path`), as clients send plain-HTTP
 * requests to a proxy. Only http: anything else goes through CONNECT.
 * @param {string} target
 * @returns {(Target & { path: string }) | undefined}
 */
export function parseAbsoluteUrl(target) {
  let url;
  try {
    url = new URL(target);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' || !url.hostname || url.username || url.password) return undefined;
  const port = url.port ? Number(url.port) : 80;
  if (port < 1) return undefined;
  return { host: unbracket(url.hostname), port, path: `${url.pathname}${url.search}` };
}

/**
 * Decides on a target: refused by name (not allowed), refused by address (any address the name
 * resolves to is one no sandbox may reach), unresolvable, or allowed with the addresses to use.
 * @param {Target} target
 * @param {import('./policy.mjs').EgressPolicy} policy
 * @param {Resolver} [resolve]
 * @returns {Promise<Decision>}
 */
export async function decide(target, policy, resolve = resolveAll) {
  const literal = ipaddr.isValid(target.host);
  // An address no policy allows is refused as such, before the name check would say "allow it".
  const refusal = literal ? addressBlocked(target.host, target.host, policy) : undefined;
  if (refusal) return refusal;
  if (!policy.hostAllowed(target.host)) {
    return { kind: 'blocked', reason: 'not-allowed', detail: 'not an allowed host' };
  }
  let addresses;
  if (literal) {
    addresses = [target.host];
  } else {
    try {
      addresses = await resolve(target.host);
    } catch (error) {
      return { kind: 'unresolvable', detail: `cannot resolve ${target.host}: ${error instanceof Error ? error.message : String(error)}` };
    }
    if (addresses.length === 0) return { kind: 'unresolvable', detail: `${target.host} has no address` };
  }
  for (const address of addresses) {
    const blocked = addressBlocked(target.host, address, policy);
    if (blocked) return blocked;
  }
  // IPv4 first: the proxy's own network (Docker's default bridge) usually has no IPv6 route.
  return { kind: 'allowed', addresses: [...addresses].sort((a, b) => Number(a.includes(':')) - Number(b.includes(':'))) };
}

/**
 * @param {string} host
 * @param {string} address
 * @param {import('./policy.mjs').EgressPolicy} policy
 * @returns {Decision | undefined}
 */
function addressBlocked(host, address, policy) {
  const refusal = policy.addressRefusal(address);
  if (!refusal) return undefined;
  const shown = address === host ? address : `${host} (${address})`;
  return { kind: 'blocked', reason: 'address', detail: `${shown} is ${refusal}, which sandboxes never reach` };
}

/** @type {Resolver} */
async function resolveAll(host) {
  const found = await dnsLookup(host, { all: true, verbatim: true });
  return [...new Set(found.map((entry) => entry.address))];
}

/** @param {string} host */
function canonicalHost(host) {
  try {
    return unbracket(new URL(`http://${host}/`).hostname);
  } catch {
    return undefined;
  }
}

/** @param {string} host */
function unbracket(host) {
  return normalizeHost(host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host);
}
