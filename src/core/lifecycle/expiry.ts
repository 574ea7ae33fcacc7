import { now, type LifecycleDeps } from './lifecycle-deps.js';
import type { StateMoves } from './state-moves.js';
import type { WorkTracker } from './work-tracker.js';

const PAGE = 500;

/** Lifetimes: ALLOCATED resources of this node whose lifetime ended go to DEALLOCATE, on a timer set to the next end. */
export class Expiry {
  readonly #d: LifecycleDeps;
  readonly #moves: StateMoves;
  readonly #work: WorkTracker;
  readonly #deallocate: (uid: string) => void;
  #timer: NodeJS.Timeout | undefined;
  #at = Infinity;

  constructor(deps: LifecycleDeps, moves: StateMoves, work: WorkTracker, deallocate: (uid: string) => void) {
    this.#d = deps;
    this.#moves = moves;
    this.#work = work;
    this.#deallocate = deallocate;
  }

  /** Moves ALLOCATED resources of this node whose lifetime ended to DEALLOCATE and deallocates them. */
  async expire(): Promise<void> {
    if (this.#work.stopping) return;
    const { store, node } = this.#d;
    const at = now();
    for (let round = 0; round < 100; round++) {
      const due = await store.expiredResources(node, at, PAGE);
      if (due.length === 0) break;
      const rows = await Promise.all(
        due.map((r) => this.#moves.move(r.application_uid, ['ALLOCATED'], 'DEALLOCATE', `lifetime ended at ${r.expires_at}`)),
      );
      due.forEach((r, i) => {
        if (rows[i]) this.#deallocate(r.application_uid);
      });
      if (due.length < PAGE) break;
    }
    this.rearm();
  }

  /** Sets the timer to the next lifetime end this node knows of. */
  rearm(): void {
    this.arm(this.#d.meta.nextExpiry() ?? Infinity, true);
  }

  /** Sets the timer to `at` if that is sooner than the one set (or always, with `reset`). */
  arm(at: number, reset = false): void {
    if (this.#work.stopping) return;
    if (!reset && at >= this.#at) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#at = at;
    if (!Number.isFinite(at)) return;
    const delay = Math.max(0, Math.min(at - Date.now() + 5, 2 ** 31 - 1));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#at = Infinity;
      void this.#work.track(this.expire().catch((err: Error) => this.#d.log.error({ err: err.message }, 'lifetime check failed')));
    }, delay);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
