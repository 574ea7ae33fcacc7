import type { Logger } from 'pino';
import type { ApplicationRow, Store } from '../../store/store.js';
import { choosePlacement, type NodeOffer } from './placement.js';

export interface SchedulerDeps {
  store: Store;
  log: Logger;
  pageSize: number;
  maxScan: number;
  /** this node's offer right now */
  offer(): NodeOffer;
  /** an application this node just elected */
  onClaimed(app: ApplicationRow): void;
}

/**
 * Event-driven claiming: wake() from a new application, freed capacity, a returning node… runs
 * one claim pass on the next turn of the event loop (wake-ups in between coalesce into it; one
 * arriving during a pass causes exactly one more). No polling.
 */
export class Scheduler {
  readonly #d: SchedulerDeps;
  #enabled = false;
  #scheduled = false;
  #running = false;
  #again = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #idle: Promise<void> = Promise.resolve();
  passes = 0;

  constructor(deps: SchedulerDeps) {
    this.#d = deps;
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  enable(): void {
    this.#enabled = true;
    this.wake();
  }

  /** Stops claiming; resolves when a pass in progress has finished. */
  async disable(): Promise<void> {
    this.#enabled = false;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    await this.#idle;
  }

  wake(): void {
    if (!this.#enabled) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#idle = this.#run();
    });
  }

  async #run(): Promise<void> {
    if (!this.#enabled || this.#running) return;
    this.#running = true;
    try {
      do {
        this.#again = false;
        await this.#pass();
      } while (this.#again && this.#enabled);
    } catch (err) {
      this.#d.log.error({ err: (err as Error).message }, 'claim pass failed; retrying in 1 s');
      if (!this.#retryTimer) {
        this.#retryTimer = setTimeout(() => {
          this.#retryTimer = undefined;
          this.wake();
        }, 1000);
        this.#retryTimer.unref();
      }
    } finally {
      this.#running = false;
    }
  }

  async #pass(): Promise<void> {
    const offer = this.#d.offer();
    if (offer.drivers.size === 0) return;
    this.passes++;
    const claimed = await this.#d.store.claim({
      node: offer.node,
      at: new Date().toISOString(),
      pageSize: this.#d.pageSize,
      maxScan: this.#d.maxScan,
      choose: (candidates, usage) => choosePlacement(candidates, usage, offer),
    });
    for (const c of claimed) this.#d.onClaimed(c.app);
  }
}
