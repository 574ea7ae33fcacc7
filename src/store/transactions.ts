import type { Transaction } from 'kysely';
import type { StoreDialect } from './dialect.js';
import { isRetryable } from './errors.js';
import type { Database } from './schema.js';
import { appendStates } from './state-log.js';
import type { StateRow, StoreSignal } from './types.js';

const TX_RETRIES = 8;
/** at most this many transactions merged into one commit (keeps each write short) */
const GROUP_MAX = 64;

export type Tx = Transaction<Database>;
/**
 * What a transaction body returns: the state rows to append (ids are handed out after every other
 * statement, see state-log.ts), the signals to send on commit, and how to build the result once
 * the rows have their ids.
 */
export interface TxOut<T> {
  states?: readonly Omit<StateRow, 'id'>[];
  signals?: readonly StoreSignal[];
  finish(events: StateRow[]): T;
}
export type TxBody<T> = (trx: Tx) => Promise<TxOut<T>>;
interface Queued {
  fn: TxBody<unknown>;
  resolve: (v: unknown) => void;
  reject: (err: unknown) => void;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * How the store runs its transactions: bodies return their state rows, appended after every
 * other statement (one counter update, the last lock taken), and signals sent on commit.
 */
export class Transactions {
  readonly #d: StoreDialect;
  readonly #emit: (signals: readonly StoreSignal[]) => void;

  constructor(dialect: StoreDialect, emit: (signals: readonly StoreSignal[]) => void) {
    this.#d = dialect;
    this.#emit = emit;
  }

  readonly #queue: Queued[] = [];
  #draining = false;

  /**
   * Runs `fn` in a transaction; its state rows are appended last and its signals sent on commit.
   * With group commit, transactions started in the same turn of the event loop (or while one is
   * committing) share one BEGIN…COMMIT (at most GROUP_MAX), and the whole batch appends its state rows with one
   * counter update at the end.
   */
  run<T>(fn: TxBody<T>): Promise<T> {
    if (!this.#d.capabilities.groupCommit) return this.#txOnce(fn);
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.#draining) {
        this.#draining = true;
        // the next turn of the event loop: requests that arrived together (a burst of creations,
        // deallocations) commit together instead of one commit each
        setImmediate(() => void this.#drain());
      }
    });
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, GROUP_MAX);
        if (batch.length === 1) {
          const q = batch[0]!;
          await this.#txOnce(q.fn).then(q.resolve, q.reject);
        } else {
          await this.#txGroup(batch);
        }
      }
    } finally {
      this.#draining = false;
    }
  }

  /** Appends the state rows and sends the signals of a committed-to-be transaction; returns what to emit locally. */
  async #finishTx(
    trx: Tx,
    states: readonly Omit<StateRow, 'id'>[],
    signals: readonly StoreSignal[],
  ): Promise<{ events: StateRow[]; local: StoreSignal[] }> {
    const events = await appendStates(trx, states);
    const local: StoreSignal[] = [...signals];
    const last = events.at(-1);
    if (this.#d.capabilities.crossProcessSignals) {
      const wire = [...new Set(signals.map((s) => JSON.stringify(s)))];
      if (last) wire.push(JSON.stringify({ kind: 'events', lastId: last.id }));
      if (wire.length) await this.#d.notify(trx, wire);
    }
    if (last) local.push({ kind: 'events', lastId: last.id, events });
    return { events, local };
  }

  /**
   * One transaction for the whole batch, optimistically: if any body fails, the batch is rolled
   * back and every body runs again alone (so one failure never affects the others' outcome).
   */
  async #txGroup(batch: Queued[]): Promise<void> {
    const outs: { out: TxOut<unknown>; from: number; to: number }[] = [];
    let done: { events: StateRow[]; local: StoreSignal[] };
    try {
      done = await this.#d.db.transaction().execute(async (trx) => {
        const states: Omit<StateRow, 'id'>[] = [];
        const signals: StoreSignal[] = [];
        for (const q of batch) {
          const out = await q.fn(trx);
          const from = states.length;
          states.push(...(out.states ?? []));
          if ((out.states?.length ?? 0) > 0) signals.push(...(out.signals ?? []));
          outs.push({ out, from, to: states.length });
        }
        return this.#finishTx(trx, states, signals);
      });
    } catch {
      for (const q of batch) await this.#txOnce(q.fn).then(q.resolve, q.reject);
      return;
    }
    this.#emit(done.local);
    batch.forEach((q, i) => {
      const o = outs[i]!;
      try {
        q.resolve(o.out.finish(done.events.slice(o.from, o.to)));
      } catch (err) {
        q.reject(err);
      }
    });
  }

  /** One transaction for `fn` (retried on deadlocks and busy errors). */
  async #txOnce<T>(fn: TxBody<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await this.#d.db.transaction().execute(async (trx) => {
          const out = await fn(trx);
          const states = out.states ?? [];
          const done = await this.#finishTx(trx, states, states.length > 0 ? (out.signals ?? []) : []);
          return { value: out.finish(done.events), local: done.local };
        });
        this.#emit(r.local);
        return r.value;
      } catch (err) {
        if (attempt < TX_RETRIES && isRetryable(err)) {
          await sleep(5 + Math.random() * 20 * (attempt + 1));
          continue;
        }
        throw err;
      }
    }
  }
}
