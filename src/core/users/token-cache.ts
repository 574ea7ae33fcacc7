import { tokenKey } from './tokens.js';

interface Entry {
  /** the stored argon2id hash the token's secret was verified against */
  hash: string;
  expires: number;
}

/**
 * Tokens verified a short while ago, so the hot path costs a SHA-256 instead of an argon2 check.
 * Keyed by the token's SHA-256; the value is the stored hash the secret matched. It never decides
 * on its own that a token is valid: every request still reads the token's row (a revoked token, a
 * deleted user or an expiry shows at once, on every node), and only when that row's hash is the
 * one verified here is the argon2 check skipped.
 */
export class TokenCache {
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #entries = new Map<string, Entry>();
  readonly #now: () => number;

  constructor(ttlMs: number, max = 10_000, now: () => number = Date.now) {
    this.#ttlMs = ttlMs;
    this.#max = max;
    this.#now = now;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** the hash `token` was verified against within the cache time, else undefined */
  verifiedHash(token: string): string | undefined {
    const key = tokenKey(token);
    const e = this.#entries.get(key);
    if (!e) return undefined;
    if (e.expires <= this.#now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return e.hash;
  }

  set(token: string, hash: string): void {
    if (this.#ttlMs <= 0) return;
    const key = tokenKey(token);
    if (!this.#entries.has(key) && this.#entries.size >= this.#max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(key, { hash, expires: this.#now() + this.#ttlMs });
  }
}
