/**
 * IP addresses as bytes: parsing (IPv4 dotted quads, IPv6 with "::" and embedded IPv4), CIDR
 * networks, and the classes of address a URL fetch must not reach (loopback, private, link-local…).
 */
import { isIP } from 'node:net';

export interface IpAddress {
  family: 4 | 6;
  /** 4 or 16 bytes, network order */
  bytes: Uint8Array;
}

export interface IpNetwork {
  family: 4 | 6;
  bytes: Uint8Array;
  /** prefix length in bits */
  prefix: number;
}

function parseV4(s: string): Uint8Array | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function parseV6(input: string): Uint8Array | undefined {
  let s = input;
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  if (isIP(s) !== 6) return undefined;
  // an embedded IPv4 tail becomes two groups
  const lastColon = s.lastIndexOf(':');
  const tail = s.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = parseV4(tail);
    if (!v4) return undefined;
    s = `${s.slice(0, lastColon + 1)}${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] === '' ? [] : halves[0]!.split(':');
  const rest = halves.length === 2 ? (halves[1] === '' ? [] : halves[1]!.split(':')) : [];
  const fill = 8 - head.length - rest.length;
  if ((halves.length === 1 && fill !== 0) || fill < 0) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? fill : 0).fill('0'), ...rest];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const n = parseInt(g, 16);
    out[i * 2] = n >> 8;
    out[i * 2 + 1] = n & 0xff;
  });
  return out;
}

/** Parses "10.0.0.1", "::1", "[::1]", "::ffff:127.0.0.1", "fe80::1%eth0"; undefined when not an IP literal. */
export function parseIp(text: string): IpAddress | undefined {
  const s = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const v4 = parseV4(s);
  if (v4) return { family: 4, bytes: v4 };
  const v6 = parseV6(s);
  return v6 ? { family: 6, bytes: v6 } : undefined;
}

/** Parses "10.0.0.0/8", "fd00::/8", or a single address (a /32 or /128). */
export function parseNetwork(text: string): IpNetwork | undefined {
  const slash = text.indexOf('/');
  const ip = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (!ip) return undefined;
  const max = ip.family === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^[0-9]{1,3}$/.test(p) || Number(p) > max) return undefined;
    prefix = Number(p);
  }
  return { family: ip.family, bytes: ip.bytes, prefix };
}

export function inNetwork(ip: IpAddress, net: IpNetwork): boolean {
  if (ip.family !== net.family) return false;
  for (let bit = 0; bit < net.prefix; bit += 8) {
    const take = Math.min(8, net.prefix - bit);
    const mask = (0xff << (8 - take)) & 0xff;
    if ((ip.bytes[bit / 8]! & mask) !== (net.bytes[bit / 8]! & mask)) return false;
  }
  return true;
}

export function formatIp(ip: IpAddress): string {
  if (ip.family === 4) return [...ip.bytes].join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((ip.bytes[i]! << 8) | ip.bytes[i + 1]!).toString(16));
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}

function net(text: string): IpNetwork {
  const n = parseNetwork(text);
  if (!n) throw new Error(`bad network literal ${text}`);
  return n;
}

/** Address classes no fetch may reach unless the node config allows them; first match wins. */
const V4_CLASSES: ReadonlyArray<[IpNetwork, string]> = [
  [net('0.0.0.0/8'), 'an unspecified ("this network") address'],
  [net('127.0.0.0/8'), 'a loopback address'],
  [net('10.0.0.0/8'), 'a private address (RFC 1918)'],
  [net('172.16.0.0/12'), 'a private address (RFC 1918)'],
  [net('192.168.0.0/16'), 'a private address (RFC 1918)'],
  [net('100.64.0.0/10'), 'a shared (CGNAT) address'],
  [net('169.254.0.0/16'), 'a link-local address'],
  [net('192.0.0.0/24'), 'a reserved (IETF protocol) address'],
  [net('192.0.2.0/24'), 'a documentation address'],
  [net('198.51.100.0/24'), 'a documentation address'],
  [net('203.0.113.0/24'), 'a documentation address'],
  [net('198.18.0.0/15'), 'a benchmarking address'],
  [net('224.0.0.0/4'), 'a multicast address'],
  [net('255.255.255.255/32'), 'the broadcast address'],
  [net('240.0.0.0/4'), 'a reserved address'],
];

const V6_CLASSES: ReadonlyArray<[IpNetwork, string]> = [
  [net('::/128'), 'an unspecified address'],
  [net('::1/128'), 'a loopback address'],
  [net('fc00::/7'), 'a private (unique local) address'],
  [net('fe80::/10'), 'a link-local address'],
  [net('fec0::/10'), 'a site-local address'],
  [net('ff00::/8'), 'a multicast address'],
  [net('2001:db8::/32'), 'a documentation address'],
  [net('100::/64'), 'a discard address'],
  [net('2001::/32'), 'a Teredo tunnel address'],
];

/** IPv6 forms that carry an IPv4 address: mapped, compatible, NAT64, 6to4. */
const V6_EMBEDDING: ReadonlyArray<[IpNetwork, (b: Uint8Array) => Uint8Array]> = [
  [net('::ffff:0:0/96'), (b) => b.slice(12, 16)],
  [net('::/96'), (b) => b.slice(12, 16)],
  [net('64:ff9b::/96'), (b) => b.slice(12, 16)],
  [net('64:ff9b:1::/48'), (b) => b.slice(12, 16)],
  [net('2002::/16'), (b) => b.slice(2, 6)],
];

/** The IPv4 address an IPv6 address stands for (mapped, compatible, NAT64, 6to4), if any. */
export function embeddedV4(ip: IpAddress): IpAddress | undefined {
  if (ip.family !== 6) return undefined;
  for (const [n, extract] of V6_EMBEDDING) {
    if (inNetwork(ip, n)) return { family: 4, bytes: extract(ip.bytes) };
  }
  return undefined;
}

/** Why a fetch must not reach this address by default ("a loopback address"…), or undefined when it is public. */
export function nonPublicReason(ip: IpAddress): string | undefined {
  if (ip.family === 6) {
    for (const [n, why] of V6_CLASSES.slice(0, 2)) if (inNetwork(ip, n)) return why; // :: and ::1 before ::/96
    const v4 = embeddedV4(ip);
    if (v4) {
      const inner = nonPublicReason(v4);
      return inner === undefined ? undefined : `${inner} (as IPv4 ${formatIp(v4)} inside IPv6)`;
    }
    for (const [n, why] of V6_CLASSES) if (inNetwork(ip, n)) return why;
    return undefined;
  }
  for (const [n, why] of V4_CLASSES) if (inNetwork(ip, n)) return why;
  return undefined;
}

/** Two addresses are the same host (an IPv4-mapped IPv6 address equals its IPv4 form). */
export function sameAddress(a: IpAddress, b: IpAddress): boolean {
  const na = a.family === 6 ? (embeddedV4(a) ?? a) : a;
  const nb = b.family === 6 ? (embeddedV4(b) ?? b) : b;
  if (na.family !== nb.family) return false;
  return na.bytes.every((x, i) => x === nb.bytes[i]);
}
