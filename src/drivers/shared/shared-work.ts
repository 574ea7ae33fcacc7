/**
 * Work several callers wait for at once (one download of an image for every allocation that
 * needs it): the first caller starts it, later ones join; each caller may leave with its own
 * AbortSignal, and when the last waiter has left the work itself is aborted.
 */
export class SharedWork<T> {
  readonly #running = new Map<string, { promise: Promise<T>; controller: AbortController; waiters: number }>();
  readonly #onCancel: (key: string, signal: AbortSignal | undefined) => Error;
  /** every run not finished yet, also those nobody waits for any more (they are winding down) */
  readonly #unsettled = new Set<Promise<T>>();

  /** `onCancel` makes the error a caller whose signal aborted gets. */
  constructor(onCancel: (key: string, signal: AbortSignal | undefined) => Error) {
    this.#onCancel = onCancel;
  }

  /** How many callers wait for `key` now (0 = not running). */
  waiters(key: string): number {
    return this.#running.get(key)?.waiters ?? 0;
  }

  /** Resolves once every run started so far has finished (aborted ones included: their cleanup is done). */
  async idle(): Promise<void> {
    while (this.#unsettled.size > 0) await Promise.allSettled([...this.#unsettled]);
  }

  /** Runs `work` for `key`, or joins the run in progress. */
  run(key: string, work: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(this.#onCancel(key, signal));
    let entry = this.#running.get(key);
    if (!entry) {
      const controller = new AbortController();
      const created: { promise: Promise<T>; controller: AbortController; waiters: number } = {
        controller,
        waiters: 0,
        promise: Promise.resolve()
          .then(() => work(controller.signal))
          .finally(() => {
            if (this.#running.get(key) === created) this.#running.delete(key);
          }),
      };
      created.promise.catch(() => undefined); // each waiter handles the outcome
      this.#unsettled.add(created.promise);
      void created.promise.finally(() => this.#unsettled.delete(created.promise)).catch(() => undefined);
      entry = created;
      this.#running.set(key, entry);
    }
    const e = entry;
    e.waiters++;
    return new Promise<T>((resolve, reject) => {
      let left = false;
      const leave = (): void => {
        left = true;
        e.waiters--;
        signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = (): void => {
        if (left) return;
        leave();
        if (e.waiters === 0) {
          // nobody waits any more: stop the work, and let a later caller start afresh
          if (this.#running.get(key) === e) this.#running.delete(key);
          e.controller.abort(signal?.reason);
        }
        reject(this.#onCancel(key, signal));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      e.promise.then(
        (v) => {
          if (left) return;
          leave();
          resolve(v);
        },
        (err: unknown) => {
          if (left) return;
          leave();
          reject(err);
        },
      );
    });
  }
}
