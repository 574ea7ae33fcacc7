/**
 * The URL policy every field that takes a URL goes through (docker and qemu images, kernels,
 * initrds…), built from the node config's `fetch` section (a FetchPolicy from the contract):
 *
 *   - file:// names a regular file whose real path (symlinks resolved) lies under an allowed
 *     directory (themselves resolved); nothing else (devices, FIFOs, directories, escapes);
 *   - http(s):// never reaches a loopback, private, link-local, unspecified, multicast, reserved
 *     address (IPv4-mapped and other IPv6 forms of those included) or one of the node's own
 *     addresses, unless `allowHosts` names the host or a network holding the address;
 *   - one URL delivers at most `maxImageBytes`.
 *
 * Refusals are DriverErrors naming the field and the rule (and the config key that opens it).
 */
import { constants } from 'node:fs';
import { open, readlink, realpath, stat, type FileHandle } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DriverError, type FetchPolicy } from '../../contract/index.js';
import { formatIp, inNetwork, nonPublicReason, parseIp, parseNetwork, sameAddress, type IpAddress, type IpNetwork } from './ip-address.js';

export const GB = 2 ** 30;
/** the default of config fetch.max_image_size */
export const DEFAULT_MAX_IMAGE_BYTES = 16 * GB;

/** The policy when the node gives none: no file://, no non-public http(s). */
export const SAFE_FETCH_POLICY: FetchPolicy = { allowFiles: [], allowHosts: [], maxImageBytes: DEFAULT_MAX_IMAGE_BYTES };

const UNITS: Record<string, number> = { '': 1, B: 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/**
 * "512MB", "16GB", "1.5G", "2TiB", "1048576" → bytes (binary units: 1 GB = 1024³ bytes).
 * Throws an Error saying what is accepted.
 */
export function parseSize(text: string | number): number {
  if (typeof text === 'number') {
    if (Number.isSafeInteger(text) && text > 0) return text;
    throw new Error(`must be a positive whole number of bytes or a size like "512MB", got ${text}`);
  }
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)(?:I?B)?\s*$/i.exec(text);
  if (!m) throw new Error(`must be a size like "512MB", "16GB" or a number of bytes, got "${text}"`);
  const bytes = Math.floor(Number(m[1]) * UNITS[m[2]!.toUpperCase()]!);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new Error(`must be more than 0 bytes and at most 8 PB, got "${text}"`);
  return bytes;
}

/** "17179869184" → "16 GB" for messages. */
export function formatSize(bytes: number): string {
  for (const [u, n] of [
    ['TB', 2 ** 40],
    ['GB', 2 ** 30],
    ['MB', 2 ** 20],
    ['KB', 2 ** 10],
  ] as const) {
    if (bytes >= n && bytes % (n / 1024) === 0) return `${+(bytes / n).toFixed(2)} ${u}`;
  }
  return `${bytes} bytes`;
}

type HostRule = { kind: 'name'; name: string } | { kind: 'net'; net: IpNetwork };

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*\.?$/;

/** One allow_hosts entry: a host name, an IP address or a CIDR network. Throws an Error when it is none. */
export function parseHostRule(entry: string): HostRule {
  const net = parseNetwork(entry.trim());
  if (net) return { kind: 'net', net };
  const name = entry.trim().toLowerCase().replace(/\.$/, '');
  if (!HOST_NAME.test(name)) throw new Error(`"${entry}" is not a host name, an IP address or a CIDR network (like 10.0.0.0/8)`);
  return { kind: 'name', name };
}

function refused(field: string, message: string, code: 'INVALID_DEFINITION' | 'IMAGE'): DriverError {
  return new DriverError(code, `${field}: ${message}`, { field });
}

/** The url without credentials, query or fragment: safe to log and to put in messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    u.search = '';
    u.hash = '';
    return u.toString();
  } catch {
    return '<invalid url>';
  }
}

function under(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel !== '' && !isAbsolute(rel) && !rel.split(sep).includes('..');
}

/** Every address of this host's interfaces (the node must not fetch from itself). */
export function ownAddresses(): IpAddress[] {
  const out: IpAddress[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      const ip = parseIp(a.address);
      if (ip) out.push(ip);
    }
  }
  return out;
}

/** A FetchPolicy ready to check URLs. */
export class UrlPolicy {
  readonly allowFiles: readonly string[];
  readonly maxBytes: number;
  readonly #hosts: HostRule[];
  /** where the interface addresses come from (tests replace it) */
  readonly #own: () => IpAddress[];

  constructor(policy: FetchPolicy = SAFE_FETCH_POLICY, own: () => IpAddress[] = ownAddresses) {
    this.allowFiles = policy.allowFiles.map((d) => resolve(d));
    this.maxBytes = policy.maxImageBytes;
    this.#hosts = policy.allowHosts.map(parseHostRule);
    this.#own = own;
  }

  #hostNameAllowed(host: string): boolean {
    const h = host.toLowerCase().replace(/\.$/, '');
    return this.#hosts.some((r) => r.kind === 'name' && r.name === h);
  }

  /**
   * Why `address` (a literal, or what `host` resolved to) must not be fetched from, or undefined
   * when it may. A host name in allow_hosts allows whatever it resolves to; an IP/CIDR entry
   * allows the addresses it holds.
   */
  addressRefusal(host: string, address: string): string | undefined {
    if (this.#hostNameAllowed(host)) return undefined;
    const ip = parseIp(address);
    if (!ip) return `${address} is not an IP address`;
    if (
      this.#hosts.some((r) => r.kind === 'net' && (inNetwork(ip, r.net) || sameAddress(ip, { family: r.net.family, bytes: r.net.bytes })))
    ) {
      return undefined;
    }
    const shown = host === address || host === `[${address}]` ? formatIp(ip) : `${host} resolves to ${formatIp(ip)}, which`;
    const why = nonPublicReason(ip);
    if (why) return `${shown} is ${why}, refused unless config fetch.allow_hosts allows it`;
    if (this.#own().some((o) => sameAddress(o, ip)))
      return `${shown} is an address of this node, refused unless config fetch.allow_hosts allows it`;
    return undefined;
  }

  /** Checks a URL's scheme and host without network or file access: what can be told from the text. */
  checkHttpTarget(url: URL, field: string, code: 'INVALID_DEFINITION' | 'IMAGE'): void {
    const shown = redactUrl(url.toString());
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw refused(field, `${shown}: scheme "${url.protocol}" is not allowed here (http:// or https://)`, code);
    }
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    if (host === '') throw refused(field, `${shown} has no host`, code);
    if (parseIp(host)) {
      const why = this.addressRefusal(host, host);
      if (why) throw refused(field, `${shown} is refused: ${why}`, code);
      return;
    }
    const name = host.toLowerCase().replace(/\.$/, '');
    if ((name === 'localhost' || name.endsWith('.localhost')) && !this.#hostNameAllowed(name)) {
      throw refused(field, `${shown} is refused: ${host} is a loopback name, refused unless config fetch.allow_hosts allows it`, code);
    }
  }

  /** The local path a file:// URL names, if it lies lexically under an allowed directory (no file access). */
  #filePath(url: URL, field: string, code: 'INVALID_DEFINITION' | 'IMAGE'): string {
    const shown = redactUrl(url.toString());
    let path: string;
    try {
      path = fileURLToPath(url);
    } catch (err) {
      throw refused(field, `${shown} is not a local file path (${(err as Error).message})`, code);
    }
    if (path.includes('\0')) throw refused(field, `${shown} is not a local file path`, code);
    path = resolve(path);
    if (this.allowFiles.length === 0) {
      throw refused(field, `${shown}: file:// URLs are not allowed on this node (config fetch.allow_files)`, code);
    }
    if (!this.allowFiles.some((d) => under(path, d))) {
      throw refused(field, `${shown} is outside the allowed import directories (config fetch.allow_files)`, code);
    }
    return path;
  }

  async #realDirs(): Promise<string[]> {
    const out: string[] = [];
    for (const d of this.allowFiles) out.push(await realpath(d).catch(() => d));
    return out;
  }

  /**
   * Label validation: refuses what can be told without downloading — schemes, literal
   * non-public addresses and `localhost`, file paths outside the allowed directories, and an
   * existing file that resolves outside them or is not a regular file. (A file may be placed
   * later; a host name is resolved at fetch time.)
   */
  async checkForLabel(rawUrl: string, field: string): Promise<void> {
    const url = new URL(rawUrl);
    if (url.protocol !== 'file:') {
      this.checkHttpTarget(url, field, 'INVALID_DEFINITION');
      return;
    }
    const path = this.#filePath(url, field, 'INVALID_DEFINITION');
    let real: string;
    try {
      real = await realpath(path);
    } catch {
      return; // not there (yet): checked again when fetched
    }
    this.#checkReal(url, real, await this.#realDirs(), field, 'INVALID_DEFINITION');
    const st = await stat(real).catch(() => undefined);
    if (st && !st.isFile()) throw refused(field, `${redactUrl(rawUrl)} is not a regular file`, 'INVALID_DEFINITION');
  }

  #checkReal(url: URL, real: string, dirs: string[], field: string, code: 'INVALID_DEFINITION' | 'IMAGE'): void {
    if (!dirs.some((d) => under(real, d))) {
      throw refused(
        field,
        `${redactUrl(url.toString())} resolves (through a symbolic link) outside the allowed import directories (config fetch.allow_files)`,
        code,
      );
    }
  }

  /**
   * Opens a file:// URL for reading after every check: lexically and really (symlinks resolved)
   * under an allowed directory, opened without following a final symlink and without blocking
   * (FIFOs), a regular file, not larger than the limit. Returns the open handle and its size.
   */
  async openFile(rawUrl: string, field: string): Promise<{ handle: FileHandle; size: number }> {
    const url = new URL(rawUrl);
    const shown = redactUrl(rawUrl);
    const path = this.#filePath(url, field, 'IMAGE');
    let real: string;
    try {
      real = await realpath(path);
    } catch {
      throw refused(field, `${shown} does not exist (place the file in an allowed import directory)`, 'IMAGE');
    }
    const dirs = await this.#realDirs();
    this.#checkReal(url, real, dirs, field, 'IMAGE');
    let handle: FileHandle;
    try {
      handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch {
      throw refused(field, `${shown} cannot be opened`, 'IMAGE');
    }
    try {
      // what was opened, not what the name pointed to a moment ago
      const opened = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => real);
      this.#checkReal(url, opened, dirs, field, 'IMAGE');
      const st = await handle.stat();
      if (!st.isFile()) throw refused(field, `${shown} is not a regular file`, 'IMAGE');
      if (st.size > this.maxBytes) {
        throw refused(
          field,
          `${shown} is ${formatSize(st.size)}, more than the limit of ${formatSize(this.maxBytes)} (config fetch.max_image_size)`,
          'IMAGE',
        );
      }
      return { handle, size: st.size };
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw err;
    }
  }
}
