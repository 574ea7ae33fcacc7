import type { StateRow, Store, StoreSignal, Transition } from '../../store/store.js';

interface Pending {
  t: Transition;
  signals: readonly StoreSignal[];
  resolve: (row: StateRow | null) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit: transitions submitted in the same turn of the event loop are applied in one store
 * transaction (a burst of 500 finished allocations costs a handful of commits, not 500).
 */
export class TransitionBatcher {
  readonly #store: Store;
  readonly #max: number;
  #queue: Pending[] = [];
  #scheduled = false;

  constructor(store: Store, maxBatch = 500) {
    this.#store = store;
    this.#max = maxBatch;
  }

  submit(t: Transition, signals: readonly StoreSignal[] = []): Promise<StateRow | null> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ t, signals, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#scheduled = false;
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#max);
      const seen = new Set<string>();
      const signals: StoreSignal[] = [];
      for (const p of batch) {
        for (const s of p.signals) {
          const k = JSON.stringify(s);
          if (!seen.has(k)) {
            seen.add(k);
            signals.push(s);
          }
        }
      }
      this.#store
        .transition(
          batch.map((p) => p.t),
          signals,
        )
        .then(
          (rows) => batch.forEach((p, i) => p.resolve(rows[i] ?? null)),
          (err: unknown) => batch.forEach((p) => p.reject(err)),
        );
    }
  }
}
