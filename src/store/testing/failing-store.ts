import type { Store } from '../store.js';

/** The Store methods that return a promise (the ones a failure can be injected into). */
export type StoreMethod = {
  [K in keyof Store]: Store[K] extends (...args: never[]) => Promise<unknown> ? K : never;
}[keyof Store];

type ArgsOf<M extends StoreMethod> = Store[M] extends (...args: infer A) => Promise<unknown> ? A : never;

/**
 * When the injected error is thrown: `before` the operation runs (nothing was written), or `after`
 * it committed (the caller sees an error although the write happened — a lost answer).
 */
export type FailurePoint = 'before' | 'after';

export interface FailureRule<M extends StoreMethod> {
  when: FailurePoint;
  /** how many matching calls fail (default 1) */
  times?: number;
  /** only calls whose arguments match fail (default: every call of the method) */
  match?: (...args: ArgsOf<M>) => boolean;
}

/** The error an injected failure throws. */
export class InjectedStoreFailure extends Error {
  constructor(
    readonly method: StoreMethod,
    readonly when: FailurePoint,
  ) {
    super(`injected store failure: ${method} (${when === 'before' ? 'before it ran' : 'after it committed'})`);
    this.name = 'InjectedStoreFailure';
  }
}

/** One armed failure: what it has done so far. */
export interface Injection<M extends StoreMethod> {
  readonly method: M;
  readonly when: FailurePoint;
  /** the arguments of every call it failed, in order */
  readonly failedCalls: readonly ArgsOf<M>[];
  /** resolves once it has failed `times` calls (and, for `after`, those calls have committed and thrown) */
  readonly exhausted: Promise<void>;
  /** disarms it (calls it has not failed yet pass through) */
  cancel(): void;
}

interface Armed {
  method: StoreMethod;
  when: FailurePoint;
  left: number;
  match: ((...args: never[]) => boolean) | undefined;
  failedCalls: unknown[][];
  settled: number;
  total: number;
  resolve: () => void;
}

/**
 * A Store for tests that fails on command: wraps any Store and makes chosen methods throw before
 * the operation runs or after it committed, once or N times, selected by method name (and
 * optionally by arguments). Everything else passes through unchanged.
 *
 *   const f = new FailingStore(await openStore(url));
 *   const lost = f.fail('transition', { when: 'after', match: (ts) => ts.some((t) => t.to === 'ALLOCATED') });
 *   // … give f.store to the code under test …
 *   await lost.exhausted;
 */
export class FailingStore {
  readonly store: Store;
  readonly #inner: Store;
  readonly #armed: Armed[] = [];
  readonly #calls = new Map<string, number>();

  constructor(inner: Store) {
    this.#inner = inner;
    this.store = new Proxy(inner, {
      get: (target, prop, receiver) => {
        const value: unknown = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function' || typeof prop !== 'string') return value;
        const fn = value as (...args: unknown[]) => unknown;
        return (...args: unknown[]) => this.#call(prop, fn, args);
      },
    });
  }

  /** Arms a failure of `method`. Rules are checked in the order they were armed; the first that matches fails the call. */
  fail<M extends StoreMethod>(method: M, rule: FailureRule<M>): Injection<M> {
    const times = rule.times ?? 1;
    if (!Number.isInteger(times) || times < 1) throw new Error(`times must be a positive integer, got ${times}`);
    let resolve!: () => void;
    const exhausted = new Promise<void>((r) => (resolve = r));
    const armed: Armed = {
      method,
      when: rule.when,
      left: times,
      match: rule.match as ((...args: never[]) => boolean) | undefined,
      failedCalls: [],
      settled: 0,
      total: times,
      resolve,
    };
    this.#armed.push(armed);
    return {
      method,
      when: rule.when,
      failedCalls: armed.failedCalls as unknown as ArgsOf<M>[],
      exhausted,
      cancel: () => {
        armed.left = 0;
      },
    };
  }

  /** How many times `method` was called through the wrapper (failed calls included). */
  calls(method: StoreMethod): number {
    return this.#calls.get(method) ?? 0;
  }

  #call(method: string, fn: (...args: unknown[]) => unknown, args: unknown[]): unknown {
    this.#calls.set(method, (this.#calls.get(method) ?? 0) + 1);
    const armed = this.#armed.find((a) => a.method === method && a.left > 0 && (!a.match || a.match(...(args as never[]))));
    if (!armed) return fn.apply(this.#inner, args);
    armed.left--;
    armed.failedCalls.push(args);
    const error = new InjectedStoreFailure(armed.method, armed.when);
    const settle = () => {
      if (++armed.settled === armed.total) armed.resolve();
    };
    if (armed.when === 'before') {
      settle();
      return Promise.reject(error);
    }
    return Promise.resolve(fn.apply(this.#inner, args)).then(
      () => {
        settle();
        throw error;
      },
      (err: unknown) => {
        settle(); // the operation failed by itself: its own error goes through
        throw err;
      },
    );
  }
}
