export interface LoginRateLimiterOptions {
  /** failed logins allowed per address within the window (default 10) */
  maxFailures?: number;
  /** sliding window length (default 60 s) */
  windowMs?: number;
  /** addresses remembered at most; the least recently failing are forgotten first (default 10 000) */
  maxAddresses?: number;
  /** clock, for tests */
  now?: () => number;
}

/**
 * Failed-login limiter per source address: a sliding window log holding at most `maxFailures`
 * timestamps per address and at most `maxAddresses` addresses, so memory stays bounded whatever
 * callers do. Successful logins do not reset the count (a valid account must not unlock guessing).
 */
export class LoginRateLimiter {
  readonly maxFailures: number;
  readonly windowMs: number;
  readonly #maxAddresses: number;
  readonly #now: () => number;
  /** address → failure times, oldest first; Map order = least recently failing first */
  readonly #failures = new Map<string, number[]>();

  constructor(options: LoginRateLimiterOptions = {}) {
    this.maxFailures = options.maxFailures ?? 10;
    this.windowMs = options.windowMs ?? 60_000;
    this.#maxAddresses = options.maxAddresses ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /** Seconds until `address` may try to log in again; 0 = now. */
  retryAfter(address: string): number {
    const list = this.#recent(address, this.#now());
    if (list === undefined || list.length < this.maxFailures) return 0;
    const oldest = list[list.length - this.maxFailures] as number;
    return Math.max(1, Math.ceil((oldest + this.windowMs - this.#now()) / 1000));
  }

  /** Records one failed login from `address`. */
  fail(address: string): void {
    const now = this.#now();
    const list = this.#recent(address, now) ?? [];
    list.push(now);
    while (list.length > this.maxFailures) list.shift();
    this.#failures.delete(address);
    this.#failures.set(address, list);
    if (this.#failures.size > this.#maxAddresses) this.#evict(now);
  }

  /** How many addresses are remembered (for tests and metrics). */
  get size(): number {
    return this.#failures.size;
  }

  #recent(address: string, now: number): number[] | undefined {
    const list = this.#failures.get(address);
    if (list === undefined) return undefined;
    const cutoff = now - this.windowMs;
    while (list.length > 0 && (list[0] as number) <= cutoff) list.shift();
    if (list.length === 0) {
      this.#failures.delete(address);
      return undefined;
    }
    return list;
  }

  #evict(now: number): void {
    const cutoff = now - this.windowMs;
    for (const [addr, list] of this.#failures) {
      if ((list[list.length - 1] as number) <= cutoff) this.#failures.delete(addr);
    }
    for (const addr of this.#failures.keys()) {
      if (this.#failures.size <= this.#maxAddresses) break;
      this.#failures.delete(addr);
    }
  }
}
