import type { Logger } from 'pino';
import type { Store } from '../../store/store.js';

export interface RetentionOptions {
  store: Store;
  log: Logger;
  /** finished applications older than this (since their last change) are deleted */
  retentionMs: number;
  /** how often a purge runs (the first one shortly after start) */
  everyMs: number;
  /** applications per transaction */
  batch: number;
  /** counts what each purge deleted (metrics) */
  onPurged?: (applications: number) => void;
}

/** at most this many batches per run: a huge backlog is taken over several runs */
const MAX_BATCHES_PER_RUN = 2_000;
/** the first purge after start waits this long (the node reconciles and starts scheduling first) */
const FIRST_RUN_MS = 5_000;

/**
 * Retention: finished applications (DEALLOCATED, ERROR) whose last change is older than
 * `retentionMs` are deleted with their state history, tasks, resource rows and access sessions,
 * `batch` per transaction, yielding to the event loop between batches so the node keeps serving;
 * then the database gives the freed pages back (SQLite). Every node of a cluster runs it; the
 * deletes are idempotent.
 */
export class Retention {
  readonly #o: RetentionOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> | undefined;
  #stopped = false;

  constructor(options: RetentionOptions) {
    this.#o = options;
  }

  start(): void {
    if (this.#timer || this.#stopped) return;
    this.#schedule(Math.min(FIRST_RUN_MS, this.#o.everyMs));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running?.catch(() => undefined);
  }

  /** One purge now (the timer's runs share it); resolves what it deleted and freed. */
  run(): Promise<{ applications: number; pagesFreed: number }> {
    const p = (this.#running as Promise<{ applications: number; pagesFreed: number }> | undefined) ?? this.#purge();
    this.#running = p;
    void p.finally(() => {
      if (this.#running === p) this.#running = undefined;
    });
    return p;
  }

  #schedule(ms: number): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.run()
        .catch((err: Error) => this.#o.log.warn({ err: err.message }, 'retention: purge failed; trying again at the next run'))
        .finally(() => {
          if (!this.#stopped) this.#schedule(this.#o.everyMs);
        });
    }, ms);
    this.#timer.unref();
  }

  async #purge(): Promise<{ applications: number; pagesFreed: number }> {
    const before = new Date(Date.now() - this.#o.retentionMs).toISOString();
    let applications = 0;
    for (let i = 0; i < MAX_BATCHES_PER_RUN && !this.#stopped; i++) {
      const n = await this.#o.store.purgeFinished(before, this.#o.batch);
      applications += n;
      if (n > 0) this.#o.onPurged?.(n);
      if (n < this.#o.batch) break;
      // let requests, claims and transitions run between batches
      await new Promise((resolve) => setImmediate(resolve));
    }
    const pagesFreed = applications > 0 && !this.#stopped ? await this.#o.store.reclaimSpace() : 0;
    if (applications > 0) this.#o.log.info({ applications, pagesFreed, before }, 'retention: finished applications deleted');
    return { applications, pagesFreed };
  }
}
