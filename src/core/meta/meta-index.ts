import type { ResourceRow } from '../../store/store.js';
import { isMac, neighbourMac, normalizeMac } from './neighbour-table.js';

interface Entry {
  uid: string;
  hwaddr: string;
  ipaddr: string;
  metadata: Record<string, unknown>;
  expiresAt: number | null;
}

/** Strips the IPv4-mapped IPv6 prefix (`::ffff:127.0.0.1` → `127.0.0.1`). */
export function plainAddress(address: string): string {
  return address.toLowerCase().startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/**
 * The ALLOCATED resources of this node by ipaddr and by hwaddr, for the Meta API. An entry is
 * added when a resource becomes ALLOCATED and removed the moment it leaves that state.
 */
export class MetaIndex {
  readonly #byUid = new Map<string, Entry>();
  readonly #byIp = new Map<string, Entry>();
  readonly #byHw = new Map<string, Entry>();
  readonly #arpPath: string;

  constructor(arpPath = '/proc/net/arp') {
    this.#arpPath = arpPath;
  }

  get size(): number {
    return this.#byUid.size;
  }

  add(r: ResourceRow): void {
    this.remove(r.application_uid);
    const e: Entry = {
      uid: r.application_uid,
      hwaddr: r.hwaddr,
      ipaddr: r.ipaddr,
      metadata: r.metadata,
      expiresAt: r.expires_at ? Date.parse(r.expires_at) : null,
    };
    this.#byUid.set(e.uid, e);
    if (e.ipaddr) this.#byIp.set(plainAddress(e.ipaddr), e);
    this.#byHw.set(this.#hwKey(e.hwaddr), e);
  }

  remove(uid: string): void {
    const e = this.#byUid.get(uid);
    if (!e) return;
    this.#byUid.delete(uid);
    if (e.ipaddr && this.#byIp.get(plainAddress(e.ipaddr)) === e) this.#byIp.delete(plainAddress(e.ipaddr));
    if (this.#byHw.get(this.#hwKey(e.hwaddr)) === e) this.#byHw.delete(this.#hwKey(e.hwaddr));
  }

  /** the applications with an entry */
  uids(): string[] {
    return [...this.#byUid.keys()];
  }

  has(uid: string): boolean {
    return this.#byUid.has(uid);
  }

  /** the earliest expiry among indexed resources (ms since epoch), or null */
  nextExpiry(): number | null {
    let min: number | null = null;
    for (const e of this.#byUid.values()) if (e.expiresAt !== null && (min === null || e.expiresAt < min)) min = e.expiresAt;
    return min;
  }

  /**
   * Metadata for a caller at `address`. If the resource's hwaddr is a MAC and the neighbour table
   * shows another MAC at that address, someone is using an address that is not theirs → null.
   */
  async byAddress(address: string): Promise<Record<string, unknown> | null> {
    const ip = plainAddress(address);
    const e = this.#byIp.get(ip);
    if (!e) return null;
    if (isMac(e.hwaddr)) {
      const seen = await neighbourMac(ip, this.#arpPath);
      if (seen !== undefined && seen !== normalizeMac(e.hwaddr)) return null;
      if (this.#byUid.get(e.uid) !== e) return null; // deallocated while we looked
    }
    return { ...e.metadata };
  }

  byHwaddr(hwaddr: string): Record<string, unknown> | null {
    const e = this.#byHw.get(this.#hwKey(hwaddr));
    return e ? { ...e.metadata } : null;
  }

  #hwKey(hwaddr: string): string {
    return isMac(hwaddr) ? normalizeMac(hwaddr) : hwaddr;
  }
}
