/** Meta API requests one resource may make: a token bucket per resource. */
export interface MetaRateLimit {
  /** tokens added per second (sustained requests per second) */
  perSecond: number;
  /** bucket size (requests in a burst) */
  burst: number;
}

export const DEFAULT_META_RATE_LIMIT: Readonly<MetaRateLimit> = Object.freeze({ perSecond: 20, burst: 40 });

/**
 * Token buckets keyed by the resolved resource (never by an unknown caller, so strangers cost no
 * memory). At most `maxKeys` buckets are kept: a bucket that has refilled is the same as a new
 * one, so those are dropped first, then the least recently used.
 */
export class TokenBuckets {
  readonly limit: MetaRateLimit;
  readonly #maxKeys: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(limit: MetaRateLimit = DEFAULT_META_RATE_LIMIT, options: { maxKeys?: number; now?: () => number } = {}) {
    if (!(limit.perSecond > 0) || !(limit.burst >= 1)) throw new Error('meta rate limit: per_second must be > 0 and burst ≥ 1');
    this.limit = limit;
    this.#maxKeys = options.maxKeys ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /** Takes one token for `key`: 0 when allowed, else the seconds to wait (≥ 1). */
  take(key: string): number {
    const now = this.#now();
    const b = this.#buckets.get(key);
    let tokens = this.limit.burst;
    if (b !== undefined) {
      tokens = Math.min(this.limit.burst, b.tokens + ((now - b.at) / 1000) * this.limit.perSecond);
      this.#buckets.delete(key);
    }
    if (tokens < 1) {
      this.#buckets.set(key, { tokens, at: now });
      return Math.max(1, Math.ceil((1 - tokens) / this.limit.perSecond));
    }
    this.#buckets.set(key, { tokens: tokens - 1, at: now });
    if (this.#buckets.size > this.#maxKeys) this.#evict(now);
    return 0;
  }

  get size(): number {
    return this.#buckets.size;
  }

  #evict(now: number): void {
    for (const [k, b] of this.#buckets) {
      if (b.tokens + ((now - b.at) / 1000) * this.limit.perSecond >= this.limit.burst) this.#buckets.delete(k);
    }
    for (const k of this.#buckets.keys()) {
      if (this.#buckets.size <= this.#maxKeys) break;
      this.#buckets.delete(k);
    }
  }
}
