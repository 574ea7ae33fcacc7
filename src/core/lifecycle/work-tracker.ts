import type { Logger } from 'pino';

/**
 * The lifecycle's background work: every promise it starts (so stop() can wait for driver calls
 * in flight) and the waits between retries (which stop() cuts short; they resume at the next start).
 */
export class WorkTracker {
  readonly #inflight = new Set<Promise<unknown>>();
  readonly #sleeps = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  #stopping = false;

  get stopping(): boolean {
    return this.#stopping;
  }

  /** Remembers `p` until it settles; returns it. */
  track<T>(p: Promise<T>): Promise<T> {
    this.#inflight.add(p);
    void p.finally(() => this.#inflight.delete(p)).catch(() => {});
    return p;
  }

  /** Waits `ms`; false when interrupted by stop() (or already stopping). */
  sleep(ms: number): Promise<boolean> {
    if (this.#stopping) return Promise.resolve(false);
    return new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          this.#sleeps.delete(entry);
          resolve(!this.#stopping);
        }, ms),
        resolve: () => resolve(false),
      };
      this.#sleeps.add(entry);
    });
  }

  /** Takes no more work and ends every wait between retries. */
  beginStop(): void {
    this.#stopping = true;
    for (const s of this.#sleeps) {
      clearTimeout(s.timer);
      s.resolve();
    }
    this.#sleeps.clear();
  }

  /** Waits for the tracked work, at most `timeoutMs`. */
  async drain(timeoutMs: number, log: Logger): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < 100 && this.#inflight.size > 0 && Date.now() < deadline; i++) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...this.#inflight]),
        new Promise<void>((r) => {
          timer = setTimeout(r, Math.max(0, deadline - Date.now()));
        }),
      ]);
      clearTimeout(timer);
    }
    if (this.#inflight.size > 0) log.warn({ inflight: this.#inflight.size }, 'stopped with driver calls still running');
  }
}
