import { describe, expect, it } from 'vitest';
import { decide, parseAbsoluteUrl, parseAuthority } from '../../sandbox/egress-proxy/destination.mjs';
import { createPolicy } from '../../sandbox/egress-proxy/policy.mjs';
import { loadConfig } from '../../src/config/config.js';
import { hostNetworks } from '../../src/sandbox/docker/egress/host-networks.js';
import { proxyEnv } from '../../src/sandbox/docker/egress/proxy-env.js';
import { parseProxyReport } from '../../src/sandbox/docker/egress/proxy-reports.js';
import { egressBlockedMessage, egressSettings, PACKAGE_REGISTRIES } from '../../src/sandbox/egress/egress-settings.js';

const registries = createPolicy({ mode: 'registries', allow: ['registry.npmjs.org', '*.internal.example'], deny: ['192.0.2.0/24'] });
const open = createPolicy({ mode: 'open', allow: [], deny: ['192.0.2.0/24'] });

describe('egress policy: host names', () => {
  it('registries allows the listed names and subdomains of a *. entry, in any case and with the root dot', () => {
    expect(registries.hostAllowed('registry.npmjs.org')).toBe(true);
    expect(registries.hostAllowed('Registry.NPMJS.org.')).toBe(true);
    expect(registries.hostAllowed('git.internal.example')).toBe(true);
    expect(registries.hostAllowed('a.b.internal.example')).toBe(true);
    // The wildcard names subdomains only, and a suffix is not a subdomain.
    expect(registries.hostAllowed('internal.example')).toBe(false);
    expect(registries.hostAllowed('evilinternal.example')).toBe(false);
    expect(registries.hostAllowed('registry.npmjs.org.evil.example')).toBe(false);
    expect(registries.hostAllowed('example.com')).toBe(false);
    expect(registries.hostAllowed('104.16.0.1')).toBe(false);
  });

  it('open allows any name; addresses are still checked', () => {
    expect(open.hostAllowed('example.com')).toBe(true);
    expect(open.addressRefusal('127.0.0.1')).toBe('a loopback address');
  });
});

describe('egress policy: addresses no policy reaches', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.17.0.1', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['::1', 'loopback'],
    ['fe80::1', 'link-local'],
    ['fd00::1', 'unique local'],
    // IPv6 forms of IPv4 addresses are judged as the IPv4 address they stand for.
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:169.254.169.254', 'link-local'],
    ['64:ff9b::a9fe:a9fe', 'link-local'],
    ['64:ff9b::7f00:1', 'loopback'],
    ['2002:7f00:1::1', '6to4'],
    // The TeleCoder host's own network, whatever range it is in.
    ['192.0.2.2', "TeleCoder host's own network"],
  ])('%s is refused (%s)', (address, kind) => {
    expect(registries.addressRefusal(address)).toContain(kind);
  });

  it.each(['104.16.0.1', '151.101.1.1', '2606:4700::1', '64:ff9b::6810:1', '203.0.113.80'])('%s is a public address it may reach', (address) => {
    expect(registries.addressRefusal(address)).toBeUndefined();
  });
});

describe('egress destinations', () => {
  it('parses CONNECT authorities the way a URL reads its host, and refuses anything else', () => {
    expect(parseAuthority('registry.npmjs.org:443')).toEqual({ host: 'registry.npmjs.org', port: 443 });
    expect(parseAuthority('[::1]:443')).toEqual({ host: '::1', port: 443 });
    // Numeric shorthands are written out, so the address check sees the real address.
    expect(parseAuthority('0x7f.1:80')).toEqual({ host: '127.0.0.1', port: 80 });
    expect(parseAuthority('2130706433:80')).toEqual({ host: '127.0.0.1', port: 80 });
    for (const bad of ['registry.npmjs.org', 'a:0', 'a:70000', 'user@host:443', 'http://x:80', '']) {
      expect(parseAuthority(bad), bad).toBeUndefined();
    }
  });

  it('parses absolute http URLs only', () => {
    expect(parseAbsoluteUrl('http://deb.debian.org/debian/dists?x=1')).toEqual({ host: 'deb.debian.org', port: 80, path: '/debian/dists?x=1' });
    expect(parseAbsoluteUrl('http://[::1]:8080/')).toEqual({ host: '::1', port: 8080, path: '/' });
    for (const bad of ['/relative', 'https://x/', 'ftp://x/', 'http://user:pw@x/']) expect(parseAbsoluteUrl(bad), bad).toBeUndefined();
  });

  it('resolves once and answers the addresses it checked; one refused address refuses the host', async () => {
    const asked: string[] = [];
    const resolver = (answers: string[]) => async (host: string) => {
      asked.push(host);
      return answers;
    };
    expect(await decide({ host: 'registry.npmjs.org', port: 443 }, registries, resolver(['2606:4700::1', '104.16.0.1']))).toEqual({
      kind: 'allowed',
      addresses: ['104.16.0.1', '2606:4700::1'],
    });
    expect(asked).toEqual(['registry.npmjs.org']);
    // A name that points into the host's network (DNS rebinding) is refused by its address.
    const rebound = await decide({ host: 'registry.npmjs.org', port: 443 }, registries, resolver(['104.16.0.1', '127.0.0.1']));
    expect(rebound).toMatchObject({ kind: 'blocked', reason: 'address', detail: 'registry.npmjs.org (127.0.0.1) is a loopback address, which sandboxes never reach' });
    // A name not on the list is refused before anything is resolved.
    asked.length = 0;
    expect(await decide({ host: 'example.com', port: 443 }, registries, resolver(['104.16.0.1']))).toMatchObject({ kind: 'blocked', reason: 'not-allowed' });
    expect(asked).toEqual([]);
    // An address literal no policy allows is refused as an address, not as "not allowed".
    expect(await decide({ host: '169.254.169.254', port: 80 }, registries)).toMatchObject({ kind: 'blocked', reason: 'address' });
    expect(await decide({ host: 'registry.npmjs.org', port: 443 }, registries, async () => Promise.reject(new Error('ENOTFOUND')))).toMatchObject({
      kind: 'unresolvable',
    });
  });
});

describe('egress settings and what the server makes of reports', () => {
  it('registries means the package registries plus TELECODER_EGRESS_ALLOW', () => {
    const settings = egressSettings(loadConfig({ TELECODER_EGRESS_ALLOW: 'git.example.com,*.mirror.example' }).sandbox);
    expect(settings.policy).toBe('registries');
    expect(settings.allow).toEqual([...PACKAGE_REGISTRIES, 'git.example.com', '*.mirror.example']);
    for (const host of ['registry.npmjs.org', 'pypi.org', 'files.pythonhosted.org', 'proxy.golang.org', 'sum.golang.org', 'crates.io', 'static.crates.io', 'index.crates.io', 'rubygems.org', 'index.rubygems.org', 'deb.debian.org', 'security.debian.org', 'archive.ubuntu.com', 'security.ubuntu.com', 'registry.yarnpkg.com', 'repo.yarnpkg.com']) {
      expect(PACKAGE_REGISTRIES).toContain(host);
    }
  });

  it('a refusal becomes the session event a user reads', () => {
    expect(egressBlockedMessage({ host: 'example.com', port: 443, reason: 'not-allowed', detail: 'not an allowed host' })).toBe(
      'egress to example.com blocked; allow it with TELECODER_EGRESS_ALLOW',
    );
    expect(egressBlockedMessage({ host: '169.254.169.254', port: 80, reason: 'address', detail: '169.254.169.254 is a link-local address' })).toBe(
      'egress to 169.254.169.254 blocked: 169.254.169.254 is a link-local address',
    );
    // The host came from the sandbox: nothing but what a host name holds reaches the event.
    expect(egressBlockedMessage({ host: 'a\nb<script>', port: 1, reason: 'not-allowed', detail: '' })).toBe('egress to a?b?script? blocked; allow it with TELECODER_EGRESS_ALLOW');
  });

  it('reads the proxy’s report lines and ignores anything else', () => {
    expect(parseProxyReport('{"event":"blocked","host":"x.example","port":443,"reason":"not-allowed","detail":"d","via":"172.20.0.2"}')).toEqual({
      event: 'blocked',
      host: 'x.example',
      port: 443,
      reason: 'not-allowed',
      detail: 'd',
      via: '172.20.0.2',
    });
    expect(parseProxyReport('{"event":"listening","port":3128}')).toEqual({ event: 'listening', port: 3128 });
    for (const line of ['', 'Error: boom', '{"event":"blocked"}', '{"event":"other"}']) expect(parseProxyReport(line)).toBeUndefined();
  });

  it("takes the host's networks from its interfaces, leaving loopback out", () => {
    const cidrs = hostNetworks({
      lo: [{ address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', mac: '', internal: true, cidr: '127.0.0.1/8' }],
      eth0: [
        { address: '192.0.2.2', netmask: '255.255.255.0', family: 'IPv4', mac: '', internal: false, cidr: '192.0.2.2/24' },
        { address: '2001:db8::2', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '', internal: false, cidr: '2001:db8::2/64', scopeid: 0 },
      ],
    });
    expect(cidrs).toEqual(['192.0.2.2/24', '2001:db8::2/64']);
    expect(createPolicy({ mode: 'open', allow: [], deny: cidrs }).addressRefusal('2001:db8::99')).toContain('own network');
  });

  it('points every package manager at the proxy, and clears it for a sandbox without network', () => {
    const env = proxyEnv('http://172.20.0.2:3128');
    for (const name of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy', 'YARN_HTTP_PROXY', 'YARN_HTTPS_PROXY']) {
      expect(env).toContain(`${name}=http://172.20.0.2:3128`);
    }
    expect(env).toContain('NO_PROXY=localhost,127.0.0.1,::1');
    expect(proxyEnv(undefined).every((entry) => entry.endsWith('='))).toBe(true);
  });
});
