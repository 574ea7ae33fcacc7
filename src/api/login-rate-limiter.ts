import { isIPv4, isIPv6 } from 'node:net';

export interface LoginRateLimiterOptions {
  /** failed logins from one address prefix (/24 IPv4, /64 IPv6) within the window before it is slowed (default 20) */
  maxFailuresPerPrefix?: number;
  /** failed logins for one user (Basic user name, or a Bearer token's id) within the window before it is slowed (default 10) */
  maxFailuresPerUser?: number;
  /** sliding window length (default 60 s) */
  windowMs?: number;
  /** keys remembered at most per kind; the least recently failing are forgotten first (default 10 000) */
  maxKeys?: number;
  /** credential checks of limited callers waiting for the one slow-lane slot; more → 429 at once (default 32) */
  maxQueued?: number;
  /** clock, for tests */
  now?: () => number;
}

/**
 * The network a client address belongs to, as the limiter counts it: /24 for IPv4, /64 for IPv6
 * (one NAT or one host's addresses share it, and rotating addresses inside it does not help).
 */
export function addressPrefix(address: string): string {
  const a = address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
  if (isIPv4(a)) return `${a.split('.').slice(0, 3).join('.')}.0/24`;
  if (isIPv6(a)) {
    const [head = '', tail = ''] = a.toLowerCase().split('::');
    const h = head === '' ? [] : head.split(':');
    const t = tail === '' ? [] : tail.split(':');
    const groups = a.includes('::') ? [...h, ...Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t] : h;
    return `${groups
      .slice(0, 4)
      .map((g) => g.replace(/^0+(?=.)/, ''))
      .join(':')}::/64`;
  }
  return a;
}

/** A sliding window log of failures per key: at most `max` timestamps per key, `maxKeys` keys. */
export class FailureWindow {
  readonly max: number;
  readonly windowMs: number;
  readonly #maxKeys: number;
  readonly #now: () => number;
  /** key → failure times, oldest first; Map order = least recently failing first */
  readonly #failures = new Map<string, number[]>();

  constructor(max: number, windowMs: number, maxKeys: number, now: () => number) {
    this.max = max;
    this.windowMs = windowMs;
    this.#maxKeys = maxKeys;
    this.#now = now;
  }

  /** Seconds until `key` is under its limit again; 0 = it is now. */
  retryAfter(key: string): number {
    const list = this.#recent(key, this.#now());
    if (list === undefined || list.length < this.max) return 0;
    const oldest = list[list.length - this.max] as number;
    return Math.max(1, Math.ceil((oldest + this.windowMs - this.#now()) / 1000));
  }

  fail(key: string): void {
    const now = this.#now();
    const list = this.#recent(key, now) ?? [];
    list.push(now);
    while (list.length > this.max) list.shift();
    this.#failures.delete(key);
    this.#failures.set(key, list);
    if (this.#failures.size > this.#maxKeys) this.#evict(now);
  }

  get size(): number {
    return this.#failures.size;
  }

  #recent(key: string, now: number): number[] | undefined {
    const list = this.#failures.get(key);
    if (list === undefined) return undefined;
    const cutoff = now - this.windowMs;
    while (list.length > 0 && (list[0] as number) <= cutoff) list.shift();
    if (list.length === 0) {
      this.#failures.delete(key);
      return undefined;
    }
    return list;
  }

  #evict(now: number): void {
    const cutoff = now - this.windowMs;
    for (const [k, list] of this.#failures) {
      if ((list[list.length - 1] as number) <= cutoff) this.#failures.delete(k);
    }
    for (const k of this.#failures.keys()) {
      if (this.#failures.size <= this.#maxKeys) break;
      this.#failures.delete(k);
    }
  }
}

/**
 * Failed logins, counted per address prefix and per user. Only failures are limited, never a
 * valid credential: once a prefix or a user is over its limit, its credential checks are not
 * refused but go through ONE slow lane shared by every limited caller (one check at a time, at
 * most `maxQueued` waiting, more → 429 at once). A correct token is still accepted there — the
 * other users behind the same NAT keep working — while a guesser gets at most one argon2 check at
 * a time for all limited sources together, and 429 instead of 401 for each wrong guess.
 */
export class LoginRateLimiter {
  readonly windowMs: number;
  readonly #prefixes: FailureWindow;
  readonly #users: FailureWindow;
  readonly #maxQueued: number;
  #busy = false;
  readonly #queue: Array<() => void> = [];

  constructor(options: LoginRateLimiterOptions = {}) {
    const now = options.now ?? Date.now;
    this.windowMs = options.windowMs ?? 60_000;
    const maxKeys = options.maxKeys ?? 10_000;
    this.#prefixes = new FailureWindow(options.maxFailuresPerPrefix ?? 20, this.windowMs, maxKeys, now);
    this.#users = new FailureWindow(options.maxFailuresPerUser ?? 10, this.windowMs, maxKeys, now);
    this.#maxQueued = options.maxQueued ?? 32;
  }

  get maxFailuresPerPrefix(): number {
    return this.#prefixes.max;
  }

  get maxFailuresPerUser(): number {
    return this.#users.max;
  }

  /** Seconds until neither the address's prefix nor the user (if known) is over its limit; 0 = not limited. */
  retryAfter(address: string, user?: string): number {
    const p = this.#prefixes.retryAfter(addressPrefix(address));
    const u = user === undefined ? 0 : this.#users.retryAfter(user);
    return Math.max(p, u);
  }

  /** Records one failed login from `address` (for `user`, when the request named one). */
  fail(address: string, user?: string): void {
    this.#prefixes.fail(addressPrefix(address));
    if (user !== undefined) this.#users.fail(user);
  }

  /** Prefixes and users remembered (for tests and metrics). */
  get size(): number {
    return this.#prefixes.size + this.#users.size;
  }

  /**
   * Runs `check` in the slow lane (one at a time across all limited callers); null when the lane's
   * queue is full (the caller answers 429 without checking anything).
   */
  async slowLane<T>(check: () => Promise<T>): Promise<{ value: T } | null> {
    if (this.#busy) {
      if (this.#queue.length >= this.#maxQueued) return null;
      await new Promise<void>((resolve) => this.#queue.push(resolve));
    }
    this.#busy = true;
    try {
      return { value: await check() };
    } finally {
      const next = this.#queue.shift();
      if (next) next();
      else this.#busy = false;
    }
  }
}
