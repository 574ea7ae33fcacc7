import type { Caller } from '../core-service.js';
import { tokenKey } from './tokens.js';

interface Entry {
  caller: Caller;
  expires: number;
}

/**
 * Verified tokens for a short while, so the hot path costs a SHA-256 instead of an argon2 check.
 * Keyed by the token's SHA-256; dropping a user drops its entries.
 */
export class TokenCache {
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #entries = new Map<string, Entry>();
  readonly #byUser = new Map<string, Set<string>>();
  readonly #now: () => number;

  constructor(ttlMs: number, max = 10_000, now: () => number = Date.now) {
    this.#ttlMs = ttlMs;
    this.#max = max;
    this.#now = now;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(token: string): Caller | undefined {
    const key = tokenKey(token);
    const e = this.#entries.get(key);
    if (!e) return undefined;
    if (e.expires <= this.#now()) {
      this.#delete(key, e.caller.name);
      return undefined;
    }
    return e.caller;
  }

  set(token: string, caller: Caller): void {
    if (this.#ttlMs <= 0) return;
    const key = tokenKey(token);
    if (!this.#entries.has(key) && this.#entries.size >= this.#max) {
      const oldest = this.#entries.entries().next().value;
      if (oldest) this.#delete(oldest[0], oldest[1].caller.name);
    }
    this.#entries.set(key, { caller, expires: this.#now() + this.#ttlMs });
    let keys = this.#byUser.get(caller.name);
    if (!keys) this.#byUser.set(caller.name, (keys = new Set()));
    keys.add(key);
  }

  dropUser(name: string): void {
    const keys = this.#byUser.get(name);
    if (!keys) return;
    for (const k of keys) this.#entries.delete(k);
    this.#byUser.delete(name);
  }

  #delete(key: string, name: string): void {
    this.#entries.delete(key);
    const keys = this.#byUser.get(name);
    keys?.delete(key);
    if (keys && keys.size === 0) this.#byUser.delete(name);
  }
}
