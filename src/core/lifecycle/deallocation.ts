import type { DriverInstance } from '../core-options.js';
import { callDriver } from './call-driver.js';
import type { LifecycleDeps } from './lifecycle-deps.js';
import type { StateMoves } from './state-moves.js';
import type { Tasks } from './tasks.js';
import type { WorkTracker } from './work-tracker.js';

/** What driver.deallocate with retries came to. */
export type Removal = { outcome: 'gone' } | { outcome: 'failed'; reason: string } | { outcome: 'stopping' };

/** What deallocation needs to know about allocations running now. */
export interface AllocationsView {
  isAllocating(uid: string): boolean;
  /** aborts the running allocation of `uid` (its end then finishes the application) */
  abort(uid: string, reason: string): void;
}

/**
 * Deallocation of this node's applications: tasks first, then driver.deallocate retried with
 * exponential backoff, then DEALLOCATED (or ERROR naming what may remain). Also removes resources
 * nobody wants any more (undone or late allocations).
 */
export class Deallocations {
  readonly #d: LifecycleDeps;
  readonly #moves: StateMoves;
  readonly #work: WorkTracker;
  readonly #tasks: Tasks;
  readonly #allocations: AllocationsView;
  /** uids being deallocated (incl. waiting between retries) */
  readonly #running = new Set<string>();

  constructor(deps: LifecycleDeps, moves: StateMoves, work: WorkTracker, tasks: Tasks, allocations: AllocationsView) {
    this.#d = deps;
    this.#moves = moves;
    this.#work = work;
    this.#tasks = tasks;
    this.#allocations = allocations;
  }

  /** Deallocates an application of this node that is in DEALLOCATE (no-op if already running). */
  deallocate(uid: string): void {
    // still allocating: stop its downloads and waits; the allocation then ends as DEALLOCATED
    const allocating = this.#allocations.isAllocating(uid);
    if (allocating) this.#allocations.abort(uid, 'the application was deallocated while it was being allocated');
    if (this.#running.has(uid) || allocating || this.#work.stopping) return;
    this.#running.add(uid);
    this.#d.meta.remove(uid);
    void this.#work.track(
      this.#deallocate(uid)
        .catch((err: Error) => this.#d.log.error({ app: uid, err: err.message }, 'deallocation bookkeeping failed'))
        .finally(() => this.#running.delete(uid)),
    );
  }

  async #deallocate(uid: string): Promise<void> {
    const { store, node, log } = this.#d;
    const done = [{ kind: 'queue', node } as const];
    await this.#tasks.settle(uid); // running tasks (e.g. a snapshot) finish first
    const res = await store.getResource(uid);
    if (!res) {
      if (this.#allocations.isAllocating(uid)) return; // the allocation's end will undo it
      await this.#moves.move(
        uid,
        ['DEALLOCATE'],
        'DEALLOCATED',
        'deallocated; the allocation had not completed',
        {
          failPendingTasks: 'the application was never allocated',
        },
        done,
      );
      this.#d.wakeScheduler();
      return;
    }
    for (const task of await store.pendingTasks(node, 'DEALLOCATE', uid)) await this.#tasks.run(task, res);
    const inst = this.#d.drivers.get(res.driver);
    if (!inst) {
      await this.#moves.move(
        uid,
        ['DEALLOCATE'],
        'ERROR',
        `driver instance ${res.driver} is not configured on node ${node}; ${res.hwaddr} may remain`,
        {
          deleteResource: true,
          failPendingTasks: 'the resource could not be deallocated',
        },
        done,
      );
      return;
    }
    const removal = await this.remove(uid, inst, res.hwaddr);
    if (removal.outcome === 'stopping') return; // resumed at the next start
    if (removal.outcome === 'gone') {
      await this.#moves.move(
        uid,
        ['DEALLOCATE'],
        'DEALLOCATED',
        `deallocated by ${res.driver} on node ${node}`,
        {
          deleteResource: true,
          failPendingTasks: 'the resource was deallocated before the task ran',
        },
        done,
      );
      log.debug({ app: uid, driver: res.driver }, 'deallocated');
    } else {
      await this.#moves.move(
        uid,
        ['DEALLOCATE'],
        'ERROR',
        `deallocation failed ${this.#d.limits.deallocateRetries} times: ${removal.reason}; ${res.hwaddr} may remain`,
        { deleteResource: true, failPendingTasks: 'the resource could not be deallocated' },
        done,
      );
    }
    this.#d.wakeScheduler();
  }

  /** Removes a resource nobody wants any more, then finishes the application (DEALLOCATE) if it is ours. */
  async undo(uid: string, inst: DriverInstance, hwaddr: string, description: string): Promise<void> {
    const removal = await this.remove(uid, inst, hwaddr);
    if (removal.outcome === 'stopping') return; // the next start finds it as an orphan and removes it
    const done = [{ kind: 'queue', node: this.#d.node } as const];
    if (removal.outcome === 'failed') {
      await this.#moves.move(
        uid,
        ['DEALLOCATE'],
        'ERROR',
        `could not undo the allocation: deallocating ${hwaddr} failed: ${removal.reason}`,
        {
          failPendingTasks: 'the application was never allocated',
        },
        done,
      );
      return;
    }
    await this.#moves.move(
      uid,
      ['DEALLOCATE'],
      'DEALLOCATED',
      description,
      { failPendingTasks: 'the application was never allocated' },
      done,
    );
    this.#d.wakeScheduler();
  }

  /** driver.deallocate with exponential backoff (limits.deallocateRetries attempts). */
  async remove(uid: string, inst: DriverInstance, hwaddr: string): Promise<Removal> {
    const { limits, log, metrics } = this.#d;
    for (let attempt = 1; ; attempt++) {
      const last = attempt >= limits.deallocateRetries;
      const r = await callDriver({
        what: `deallocate on ${inst.instance}`,
        timeoutMs: limits.deallocateTimeoutMs,
        run: () => inst.driver.deallocate(hwaddr),
        metric: { counter: metrics.deallocations, driver: inst.instance, failureOutcome: last ? 'failure' : 'retry' },
      });
      if (r.ok) return { outcome: 'gone' };
      if (last) {
        log.error({ app: uid, driver: inst.instance, hwaddr, attempt, reason: r.reason }, 'deallocation failed; giving up');
        return { outcome: 'failed', reason: r.reason };
      }
      const wait = Math.min(limits.deallocateBackoffMs * 2 ** (attempt - 1), limits.deallocateBackoffMaxMs);
      log.warn({ app: uid, driver: inst.instance, hwaddr, attempt, retryInMs: wait, reason: r.reason }, 'deallocation failed; retrying');
      if (!(await this.#work.sleep(wait))) return { outcome: 'stopping' };
    }
  }
}
