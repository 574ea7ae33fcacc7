import type { StoreDialect } from './dialect.js';
import type { StoreSignal } from './types.js';

function isSignal(v: unknown): v is StoreSignal {
  if (typeof v !== 'object' || v === null) return false;
  const k = (v as { kind?: unknown }).kind;
  return k === 'queue' || k === 'work' || k === 'events' || k === 'nodes' || k === 'resync';
}

/** Wake-ups: local listeners, and (where the dialect carries them) other processes' payloads. */
export class StoreSignals {
  readonly #d: StoreDialect;
  readonly #listeners = new Set<(s: StoreSignal) => void>();

  constructor(dialect: StoreDialect) {
    this.#d = dialect;
  }

  onSignal(listener: (signal: StoreSignal) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Sends wake-ups outside a transaction: to other processes (if they can hear them), then locally. */
  async notify(signals: readonly StoreSignal[]): Promise<void> {
    if (signals.length === 0) return;
    if (this.#d.capabilities.crossProcessSignals)
      await this.#d.notify(
        this.#d.db,
        signals.map((s) => JSON.stringify(s)),
      );
    this.emit(signals);
  }

  /** A payload another process sent (anything that is not a signal is ignored). */
  onPayload(payload: string): void {
    let v: unknown;
    try {
      v = JSON.parse(payload);
    } catch {
      return;
    }
    if (isSignal(v)) this.emit([v]);
  }

  emit(signals: readonly StoreSignal[]): void {
    for (const s of signals) {
      for (const l of this.#listeners) {
        try {
          l(s);
        } catch {
          // a listener's failure is its own business
        }
      }
    }
  }

  clear(): void {
    this.#listeners.clear();
  }
}
