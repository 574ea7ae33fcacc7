import { stringifyDefinition } from '../../contract/index.js';
import type { ApplicationRow, LabelRow, ResourceRow, StateRow } from '../../store/store.js';
import type { DriverInstance } from '../core-options.js';
import { callDriver, type DriverOutcome } from './call-driver.js';
import type { Deallocations } from './deallocation.js';
import { now, type LifecycleDeps } from './lifecycle-deps.js';
import type { StateMoves } from './state-moves.js';
import type { WorkTracker } from './work-tracker.js';
import { ProgressNotes } from './progress-notes.js';

/** What the allocation needs from the rest of the lifecycle. */
export interface AllocationHooks {
  deallocations(): Deallocations;
  /** a resource with this expiry time was recorded */
  expiresAt(at: number): void;
}

/**
 * Allocation of the applications this node elected: the driver call, recording the resource (or
 * removing it when it cannot be recorded or is no longer wanted), and the retry-or-ERROR rule
 * when the driver fails.
 */
export class Allocations {
  readonly #d: LifecycleDeps;
  readonly #moves: StateMoves;
  readonly #work: WorkTracker;
  readonly #hooks: AllocationHooks;
  /** uid → the running allocation */
  readonly #running = new Map<string, Promise<void>>();
  /** uid → aborts its running allocation (deallocation requested meanwhile, node stopping, timeout) */
  readonly #aborts = new Map<string, AbortController>();

  constructor(deps: LifecycleDeps, moves: StateMoves, work: WorkTracker, hooks: AllocationHooks) {
    this.#d = deps;
    this.#moves = moves;
    this.#work = work;
    this.#hooks = hooks;
  }

  get count(): number {
    return this.#running.size;
  }

  isAllocating(uid: string): boolean {
    return this.#running.has(uid);
  }

  abort(uid: string, reason: string): void {
    this.#aborts.get(uid)?.abort(new Error(reason));
  }

  abortAll(reason: string): void {
    for (const a of this.#aborts.values()) a.abort(new Error(reason));
  }

  /** Starts allocating an application this node just elected. */
  allocate(app: ApplicationRow): void {
    const previous = this.#running.get(app.uid);
    if (previous) {
      // an earlier attempt of this application is still finishing: its return to NEW committed (in
      // the same group as this election, say) before its bookkeeping ended. This one starts after it.
      void previous.then(() => this.allocate(app));
      return;
    }
    const abort = new AbortController();
    this.#aborts.set(app.uid, abort);
    const p = this.#work.track(
      this.#allocate(app, abort)
        .catch((err: Error) => {
          this.#d.log.error({ app: app.uid, err: err.message }, 'allocation bookkeeping failed');
        })
        .finally(() => {
          this.#running.delete(app.uid);
          this.#aborts.delete(app.uid);
        }),
    );
    this.#running.set(app.uid, p);
  }

  async #allocate(app: ApplicationRow, abort: AbortController): Promise<void> {
    const label = await this.#d.label(app.label_uid);
    const idx = app.definition_index;
    const def = label.definitions[idx];
    const inst = app.driver ? this.#d.drivers.get(app.driver) : undefined;
    const driverName = app.driver ?? 'unknown';
    let r: DriverOutcome<{ hwaddr: string; ipaddr: string }>;
    if (!def || !inst || !inst.enabled) {
      const error = new Error(`driver instance "${app.driver ?? '?'}" of definition ${idx} is not enabled on node ${this.#d.node}`);
      r = { ok: false, error, reason: error.message, timedOut: false };
      this.#d.metrics.allocations.inc({ driver: driverName, outcome: 'failure' });
    } else {
      const metadata = { ...label.metadata, ...app.metadata };
      const notes = new ProgressNotes(
        (note) => this.#moves.move(app.uid, ['ELECTED'], 'ELECTED', `allocating on ${inst.instance} (definition ${idx}): ${note}`),
        (err) => this.#d.log.warn({ app: app.uid, err: err.message }, 'recording an allocation progress note failed'),
      );
      const context = {
        application: app.uid,
        label: label.name,
        labelOwner: label.owner,
        owner: app.owner,
        node: this.#d.node,
        progress: (note: string) => notes.push(note),
      };
      r = await callDriver({
        what: `allocate on ${inst.instance}`,
        timeoutMs: this.#d.limits.allocateTimeoutMs,
        abort,
        timeoutReason: 'the allocation timed out',
        metric: { counter: this.#d.metrics.allocations, driver: driverName },
        run: async (signal) => {
          const a = await inst.driver.allocate(stringifyDefinition(def), metadata, { ...context, signal });
          if (typeof a?.hwaddr !== 'string' || a.hwaddr === '') throw new Error(`driver ${inst.instance} returned no hwaddr`);
          return { hwaddr: a.hwaddr, ipaddr: a.ipaddr ?? '' };
        },
        onLate: (late) => {
          // an allocation that timed out may still finish: remove what it made
          this.#d.log.warn(
            { app: app.uid, driver: inst.instance, hwaddr: late.hwaddr },
            'an allocation finished after its timeout; removing it',
          );
          void this.#work.track(this.#hooks.deallocations().remove(app.uid, inst, late.hwaddr));
        },
      });
      // no note may land after the outcome is recorded
      await notes.close();
    }
    if (r.ok && inst) await this.#record(app, label, inst, r.value);
    else if (!r.ok) await this.#failed(app, label, driverName, r.reason);
  }

  /** The driver made the resource: record it, or remove it if that cannot be done or it is no longer wanted. */
  async #record(app: ApplicationRow, label: LabelRow, inst: DriverInstance, made: { hwaddr: string; ipaddr: string }): Promise<void> {
    const { log, node } = this.#d;
    const driverName = inst.instance;
    const idx = app.definition_index;
    const { hwaddr } = made;
    const lifetime = this.#d.lifetimeMs(app, label);
    const resource: ResourceRow = {
      application_uid: app.uid,
      owner: app.owner,
      node,
      driver: driverName,
      definition_index: idx,
      hwaddr,
      ipaddr: made.ipaddr,
      metadata: { ...label.metadata, ...app.metadata },
      expires_at: lifetime === null ? null : new Date(Date.now() + lifetime).toISOString(),
      created_at: now(),
    };
    let row: StateRow | null;
    try {
      row = await this.#moves.move(app.uid, ['ELECTED'], 'ALLOCATED', `allocated by ${driverName} on node ${node} (definition ${idx})`, {
        insertResource: resource,
      });
    } catch (err) {
      // the store cannot record it: do not leave a resource nobody knows about
      log.error({ app: app.uid, driver: driverName, err: (err as Error).message }, 'could not record an allocation; removing the resource');
      await this.#hooks.deallocations().remove(app.uid, inst, hwaddr);
      throw err;
    }
    if (!row) {
      // an earlier try may have committed before its answer was lost
      const rec = await this.#d.store.getResource(app.uid);
      const cur = rec?.hwaddr === hwaddr ? await this.#d.store.getApplication(app.uid) : undefined;
      if (cur?.status === 'ALLOCATED')
        row = { id: 0, application_uid: app.uid, owner: app.owner, status: 'ALLOCATED', description: '', created_at: cur.status_at };
    }
    if (row) {
      this.#d.meta.add(resource);
      this.#d.metrics.allocationSeconds.observe({ driver: driverName }, (Date.parse(row.created_at) - Date.parse(app.created_at)) / 1000);
      if (resource.expires_at) this.#hooks.expiresAt(Date.parse(resource.expires_at));
      log.debug({ app: app.uid, driver: driverName, hwaddr }, 'allocated');
      return;
    }
    // no longer ours to keep: deallocation was requested meanwhile, or another node re-elected it
    log.info({ app: app.uid, driver: driverName, hwaddr }, 'undoing an allocation that is no longer wanted');
    await this.#hooks.deallocations().undo(app.uid, inst, hwaddr, 'allocation undone: deallocation was requested while allocating');
  }

  /** The driver failed: the next definition (NEW) or ERROR; DEALLOCATED if deallocation was requested meanwhile. */
  async #failed(app: ApplicationRow, label: LabelRow, driverName: string, reason: string): Promise<void> {
    const { node } = this.#d;
    const idx = app.definition_index;
    this.#d.log.warn({ app: app.uid, driver: driverName, definition: idx, attempts: app.attempts + 1, reason }, 'allocation failed');
    const row = await this.#moves.retryOrError(app, label, {
      nextDefinition: true,
      error: (attempts) =>
        `allocation failed ${attempts} time${attempts === 1 ? '' : 's'}; last: definition ${idx} (${driverName}): ${reason}`,
      retry: (attempts, limit, next) =>
        `definition ${idx} (${driverName}) failed: ${reason}; trying definition ${next} (attempt ${attempts + 1} of ${limit})`,
    });
    if (!row) {
      // deallocation was requested while the (failed) allocation ran
      await this.#moves.move(
        app.uid,
        ['DEALLOCATE'],
        'DEALLOCATED',
        `deallocated; the allocation had failed: ${reason}`,
        {
          failPendingTasks: 'the application was never allocated',
        },
        [{ kind: 'queue', node }],
      );
    }
    this.#d.wakeScheduler();
  }

  /**
   * ELECTED applications of this node that no allocation is working on (its bookkeeping failed,
   * e.g. the database was away) go back to NEW; called from the heartbeat.
   */
  async sweepStuck(graceMs: number): Promise<number> {
    if (this.#work.stopping) return 0;
    const before = Date.now() - graceMs;
    let n = 0;
    for (const app of await this.#d.store.applicationsOn(this.#d.node, ['ELECTED'])) {
      if (this.#running.has(app.uid) || Date.parse(app.status_at) > before) continue;
      const row = await this.#moves.move(
        app.uid,
        ['ELECTED'],
        'NEW',
        `allocation on node ${this.#d.node} was interrupted; waiting for a node again`,
        {
          set: { node: null, driver: null, cpu: 0, ram: 0 },
          // the election seen above, not a newer one whose allocation is about to start
          ifStatusAt: app.status_at,
        },
        [{ kind: 'queue' }],
      );
      if (row) n++;
    }
    return n;
  }
}
