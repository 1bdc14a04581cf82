import type { EgressPolicy } from '../../config/config.js';

/**
 * The hosts package managers fetch from: what `TELECODER_EGRESS=registries` allows. npm, Yarn
 * (classic's registry, and repo.yarnpkg.com where corepack downloads Yarn ≥ 2), PyPI, the Go
 * module proxy and checksum database, crates.io, RubyGems, and the Debian and Ubuntu archives.
 */
export const PACKAGE_REGISTRIES: readonly string[] = [
  'registry.npmjs.org',
  'registry.yarnpkg.com',
  'repo.yarnpkg.com',
  'pypi.org',
  'files.pythonhosted.org',
  'proxy.golang.org',
  'sum.golang.org',
  'crates.io',
  'static.crates.io',
  'index.crates.io',
  'rubygems.org',
  'index.rubygems.org',
  'deb.debian.org',
  'security.debian.org',
  'archive.ubuntu.com',
  'security.ubuntu.com',
  'ports.ubuntu.com',
];

/** What a runtime enforces for every sandbox that has a network. */
export interface EgressSettings {
  policy: EgressPolicy;
  /** Host names allowed under `registries` (`*.example.com`: its subdomains). Unused by `open` and `none`. */
  allow: readonly string[];
}

/** TELECODER_EGRESS and TELECODER_EGRESS_ALLOW as a runtime takes them: the registries plus the operator's hosts. */
export function egressSettings(sandbox: { egress: EgressPolicy; egressAllow: readonly string[] }): EgressSettings {
  return { policy: sandbox.egress, allow: [...new Set([...PACKAGE_REGISTRIES, ...sandbox.egressAllow])] };
}

/** The session event for a refused request: what was refused and what, if anything, lets it through. */
export function egressBlockedMessage(blocked: { host: string; port: number; reason: 'not-allowed' | 'address'; detail: string }): string {
  // The host comes from the sandbox: keep it to what a host name or address can contain.
  const host = blocked.host.replace(/[^a-zA-Z0-9.:_[\]-]/g, '?').slice(0, 255);
  return blocked.reason === 'not-allowed'
    ? `egress to ${host} blocked; allow it with TELECODER_EGRESS_ALLOW`
    : `egress to ${host} blocked: ${blocked.detail.replace(/[^\x20-\x7e]/g, '?').slice(0, 300)}`;
}
