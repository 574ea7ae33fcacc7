import type { ApplicationRow, ResourceRow, TaskRow } from '../../store/store.js';
import { Allocations } from './allocation.js';
import { Deallocations } from './deallocation.js';
import { Expiry } from './expiry.js';
import { now, type LifecycleDeps } from './lifecycle-deps.js';
import { checkAllocated, reconcile, type Reconciled } from './reconcile.js';
import { StateMoves } from './state-moves.js';
import { Tasks } from './tasks.js';
import { WorkTracker } from './work-tracker.js';

export type { LifecycleDeps } from './lifecycle-deps.js';

/**
 * Everything this node does to applications it elected, one part per job: allocation.ts (allocate,
 * record or remove, retry over definitions), deallocation.ts (tasks first, driver retried with
 * backoff, undo), tasks.ts, expiry.ts (lifetimes), reconcile.ts (after a restart). Every driver
 * call goes through call-driver.ts; every state change through state-moves.ts. This class wires
 * them and runs the work scan and stop.
 */
export class Lifecycle {
  readonly #d: LifecycleDeps;
  readonly #work = new WorkTracker();
  readonly #moves: StateMoves;
  readonly #tasks: Tasks;
  readonly #allocations: Allocations;
  readonly #deallocations: Deallocations;
  readonly #expiry: Expiry;
  #scanning = false;
  #scanAgain = false;

  constructor(deps: LifecycleDeps) {
    this.#d = deps;
    this.#moves = new StateMoves(deps.store, deps.node, deps.log, deps.limits);
    this.#tasks = new Tasks(deps, this.#work);
    this.#allocations = new Allocations(deps, this.#moves, this.#work, {
      deallocations: () => this.#deallocations,
      expiresAt: (at) => this.#expiry.arm(at),
    });
    this.#deallocations = new Deallocations(deps, this.#moves, this.#work, this.#tasks, this.#allocations);
    this.#expiry = new Expiry(deps, this.#moves, this.#work, (uid) => this.deallocate(uid));
  }

  get allocating(): number {
    return this.#allocations.count;
  }

  isAllocating(uid: string): boolean {
    return this.#allocations.isAllocating(uid);
  }

  /** Starts allocating an application this node just elected. */
  allocate(app: ApplicationRow): void {
    this.#allocations.allocate(app);
  }

  /** Deallocates an application of this node that is in DEALLOCATE (no-op if already running). */
  deallocate(uid: string): void {
    this.#deallocations.deallocate(uid);
  }

  /** Runs a NOW task of an ALLOCATED application of this node. */
  runTaskNow(task: TaskRow, res: ResourceRow): void {
    this.#tasks.runNow(task, res);
  }

  /** Moves ALLOCATED resources of this node whose lifetime ended to DEALLOCATE and deallocates them. */
  expire(): Promise<void> {
    return this.#expiry.expire();
  }

  /** ELECTED applications of this node that no allocation is working on go back to NEW (heartbeat). */
  sweepStuck(graceMs: number): Promise<number> {
    return this.#allocations.sweepStuck(graceMs);
  }

  /** After a restart, before any new work (see reconcile.ts); then lifetimes are timed. */
  async reconcile(): Promise<Reconciled> {
    const out = await reconcile(this.#d, this.#moves);
    this.#expiry.rearm();
    return out;
  }

  /**
   * Checks every ALLOCATED resource of this node with its driver (see checkAllocated): one whose
   * backend no longer runs it goes to ERROR and its leftovers are removed. Returns how many vanished.
   */
  checkAllocated(): Promise<number> {
    if (this.#work.stopping) return Promise.resolve(0);
    return this.#work.track(checkAllocated(this.#d, this.#moves));
  }

  /**
   * After others ended this node's work (declared lost, or forgotten): allocations in flight are
   * aborted (what they made is removed), Meta API entries of applications no longer ALLOCATED or
   * DEALLOCATE here are dropped, then the restart reconciliation runs (orphans deallocated).
   */
  async reconcileAfterLost(): Promise<Reconciled> {
    this.#allocations.abortAll('this node was declared lost');
    const live = new Set((await this.#d.store.applicationsOn(this.#d.node, ['ALLOCATED', 'DEALLOCATE'])).map((a) => a.uid));
    for (const uid of this.#d.meta.uids()) if (!live.has(uid)) this.#d.meta.remove(uid);
    return this.reconcile();
  }

  /** Picks up DEALLOCATE applications and PENDING NOW tasks of this node (e.g. requested through another node). */
  scanWork(): void {
    if (this.#work.stopping) return;
    if (this.#scanning) {
      this.#scanAgain = true;
      return;
    }
    this.#scanning = true;
    void this.#work.track(
      (async () => {
        try {
          do {
            this.#scanAgain = false;
            const { store, node } = this.#d;
            for (const app of await store.applicationsOn(node, ['DEALLOCATE'])) this.deallocate(app.uid);
            for (const task of await store.pendingTasks(node, 'NOW')) {
              const res = await store.getResource(task.application_uid);
              const app = res ? await store.getApplication(task.application_uid) : undefined;
              if (res && app?.status === 'ALLOCATED') this.runTaskNow(task, res);
              else await store.updateTask(task.uid, ['PENDING'], 'FAILED', 'the application is not ALLOCATED', now());
            }
          } while (this.#scanAgain && !this.#work.stopping);
        } catch (err) {
          this.#d.log.error({ err: (err as Error).message }, 'work scan failed');
        } finally {
          this.#scanning = false;
        }
      })(),
    );
  }

  /** Stops taking work, cancels retry waits (those resume at the next start), waits for driver calls. */
  async stop(): Promise<void> {
    this.#work.beginStop();
    this.#allocations.abortAll('the node is stopping');
    this.#expiry.stop();
    await this.#work.drain(this.#d.limits.stopTimeoutMs, this.#d.log);
  }
}
