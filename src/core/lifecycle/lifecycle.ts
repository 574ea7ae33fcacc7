import type { Logger } from 'pino';
import { DriverError, stringifyDefinition } from '../../contract/index.js';
import type { ApplicationStatus } from '../../model/index.js';
import type {
  ApplicationPatch,
  ApplicationRow,
  LabelRow,
  ResourceRow,
  StateRow,
  Store,
  StoreSignal,
  TaskRow,
} from '../../store/store.js';
import { checkedFrom } from '../applications/states.js';
import type { CoreLimits, DriverInstance } from '../core-options.js';
import type { MetaIndex } from '../meta/meta-index.js';
import type { CoreMetrics } from '../metrics.js';
import { TransitionBatcher } from './transition-batcher.js';

export interface LifecycleDeps {
  store: Store;
  log: Logger;
  node: string;
  limits: CoreLimits;
  drivers: ReadonlyMap<string, DriverInstance>;
  meta: MetaIndex;
  metrics: CoreMetrics;
  label(uid: string): Promise<LabelRow>;
  /** the resource lifetime for an application (application ← label ← node default), ms or null */
  lifetimeMs(app: ApplicationRow, label: LabelRow): number | null;
  /** capacity was freed on this node: look for work */
  wakeScheduler(): void;
}

/** A driver's reason, for state descriptions and task results (never metadata). */
export function reasonOf(err: unknown): string {
  if (err instanceof DriverError) return `${err.code}: ${err.message}`;
  if (err instanceof Error) return err.message;
  return String(err);
}

const now = (): string => new Date().toISOString();
/** how often a state change is tried when the store fails (about 6 s in all) */
const MOVE_ATTEMPTS = 6;
/** status()/listResources() at restart: a backend that does not answer in a minute is treated as unknown */
const CHECK_TIMEOUT_MS = 60_000;

/** A driver call that did not answer in time. */
export class DriverTimeout extends Error {
  constructor(what: string, ms: number) {
    super(`${what} did not finish within ${ms < 10_000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`}`);
    this.name = 'DriverTimeout';
  }
}

/** Resolves like `p`, or rejects with DriverTimeout after `ms` (p keeps running). */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DriverTimeout(what, ms)), ms);
    timer.unref();
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/**
 * Everything this node does to applications it elected: allocate (and retry over definitions),
 * undo allocations whose deallocation was requested meanwhile, deallocate (tasks first, driver
 * retried with exponential backoff), run tasks, end lifetimes, reconcile after a restart.
 */
export class Lifecycle {
  readonly #d: LifecycleDeps;
  readonly #batch: TransitionBatcher;
  /** uid → the running allocation */
  readonly #allocating = new Map<string, Promise<void>>();
  /** uid → aborts its running allocation (deallocation requested meanwhile, node stopping, timeout) */
  readonly #allocAborts = new Map<string, AbortController>();
  /** uids being deallocated (incl. waiting between retries) */
  readonly #deallocating = new Set<string>();
  /** uid → running tasks of that application */
  readonly #tasks = new Map<string, Set<Promise<void>>>();
  readonly #inflight = new Set<Promise<unknown>>();
  readonly #sleeps = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  #stopping = false;
  #scanning = false;
  #scanAgain = false;
  #expiryTimer: NodeJS.Timeout | undefined;
  #expiryAt = Infinity;

  constructor(deps: LifecycleDeps) {
    this.#d = deps;
    this.#batch = new TransitionBatcher(deps.store);
  }

  get allocating(): number {
    return this.#allocating.size;
  }

  isAllocating(uid: string): boolean {
    return this.#allocating.has(uid);
  }

  #track<T>(p: Promise<T>): Promise<T> {
    this.#inflight.add(p);
    void p.finally(() => this.#inflight.delete(p)).catch(() => {});
    return p;
  }

  /**
   * A conditional transition of an application of this node, group-committed. A store error
   * (database briefly unreachable…) is retried with backoff: a transition that is lost would leave
   * a resource nobody tracks.
   */
  async #move(
    uid: string,
    from: readonly ApplicationStatus[],
    to: ApplicationStatus,
    description: string,
    extra: { set?: ApplicationPatch; insertResource?: ResourceRow; deleteResource?: boolean; failPendingTasks?: string } = {},
    signals: readonly StoreSignal[] = [],
  ): Promise<StateRow | null> {
    checkedFrom(from, to);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#batch.submit({ uid, from, to, description, at: now(), onlyNode: this.#d.node, ...extra }, signals);
      } catch (err) {
        if (attempt >= MOVE_ATTEMPTS) throw err;
        this.#d.log.warn({ app: uid, to, attempt, err: (err as Error).message }, 'recording a state change failed; retrying');
        await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
      }
    }
  }

  // ── allocation ──────────────────────────────────────────────────────────

  /** Starts allocating an application this node just elected. */
  allocate(app: ApplicationRow): void {
    if (this.#allocating.has(app.uid)) return;
    const abort = new AbortController();
    this.#allocAborts.set(app.uid, abort);
    const p = this.#track(
      this.#allocate(app, abort.signal)
        .catch((err: Error) => {
          this.#d.log.error({ app: app.uid, err: err.message }, 'allocation bookkeeping failed');
        })
        .finally(() => {
          this.#allocating.delete(app.uid);
          this.#allocAborts.delete(app.uid);
        }),
    );
    this.#allocating.set(app.uid, p);
  }

  async #allocate(app: ApplicationRow, signal: AbortSignal): Promise<void> {
    const { log, node } = this.#d;
    const label = await this.#d.label(app.label_uid);
    const idx = app.definition_index;
    const def = label.definitions[idx];
    const inst = app.driver ? this.#d.drivers.get(app.driver) : undefined;
    let hwaddr: string | undefined;
    let ipaddr = '';
    let failure: unknown;
    if (!def || !inst || !inst.enabled) {
      failure = new Error(`driver instance "${app.driver ?? '?'}" of definition ${idx} is not enabled on node ${node}`);
    } else {
      const metadata = { ...label.metadata, ...app.metadata };
      const call = Promise.resolve().then(() =>
        inst.driver.allocate(stringifyDefinition(def), metadata, { application: app.uid, label: label.name, labelOwner: label.owner, owner: app.owner, node, signal }),
      );
      try {
        const r = await withTimeout(call, this.#d.limits.allocateTimeoutMs, `allocate on ${inst.instance}`);
        if (typeof r?.hwaddr !== 'string' || r.hwaddr === '') throw new Error(`driver ${inst.instance} returned no hwaddr`);
        hwaddr = r.hwaddr;
        ipaddr = r.ipaddr ?? '';
      } catch (err) {
        failure = err;
        if (err instanceof DriverTimeout) {
          this.#allocAborts.get(app.uid)?.abort(new Error('the allocation timed out'));
          this.#removeLate(app.uid, inst, call);
        }
      }
    }
    const driverName = app.driver ?? 'unknown';

    if (hwaddr !== undefined) {
      const lifetime = this.#d.lifetimeMs(app, label);
      const at = now();
      const resource: ResourceRow = {
        application_uid: app.uid,
        owner: app.owner,
        node,
        driver: driverName,
        definition_index: idx,
        hwaddr,
        ipaddr,
        metadata: { ...label.metadata, ...app.metadata },
        expires_at: lifetime === null ? null : new Date(Date.now() + lifetime).toISOString(),
        created_at: at,
      };
      let row: StateRow | null;
      try {
        row = await this.#move(app.uid, ['ELECTED'], 'ALLOCATED', `allocated by ${driverName} on node ${node} (definition ${idx})`, {
          insertResource: resource,
        });
      } catch (err) {
        // the store cannot record it: do not leave a resource nobody knows about
        log.error({ app: app.uid, driver: driverName, err: (err as Error).message }, 'could not record an allocation; removing the resource');
        await this.#driverDeallocate(app.uid, inst!, hwaddr);
        throw err;
      }
      if (!row) {
        // an earlier try may have committed before its answer was lost
        const rec = await this.#d.store.getResource(app.uid);
        const cur = rec?.hwaddr === hwaddr ? await this.#d.store.getApplication(app.uid) : undefined;
        if (cur?.status === 'ALLOCATED') row = { id: 0, application_uid: app.uid, owner: app.owner, status: 'ALLOCATED', description: '', created_at: cur.status_at };
      }
      this.#d.metrics.allocations.inc({ driver: driverName, outcome: 'success' });
      if (row) {
        this.#d.meta.add(resource);
        this.#d.metrics.allocationSeconds.observe({ driver: driverName }, (Date.parse(row.created_at) - Date.parse(app.created_at)) / 1000);
        if (resource.expires_at) this.#armExpiry(Date.parse(resource.expires_at));
        log.debug({ app: app.uid, driver: driverName, hwaddr }, 'allocated');
        return;
      }
      // no longer ours to keep: deallocation was requested meanwhile, or another node re-elected it
      log.info({ app: app.uid, driver: driverName, hwaddr }, 'undoing an allocation that is no longer wanted');
      await this.#undo(app.uid, inst!, hwaddr, 'allocation undone: deallocation was requested while allocating');
      return;
    }

    this.#d.metrics.allocations.inc({ driver: driverName, outcome: 'failure' });
    const reason = reasonOf(failure);
    const attempts = app.attempts + 1;
    const limit = Math.max(this.#d.limits.allocateRetries, label.definitions.length);
    log.warn({ app: app.uid, driver: driverName, definition: idx, attempts, reason }, 'allocation failed');
    let row: StateRow | null;
    if (attempts >= limit) {
      row = await this.#move(
        app.uid,
        ['ELECTED'],
        'ERROR',
        `allocation failed ${attempts} time${attempts === 1 ? '' : 's'}; last: definition ${idx} (${driverName}): ${reason}`,
        { set: { attempts }, failPendingTasks: 'the application was never allocated' },
        [{ kind: 'queue', node }],
      );
    } else {
      const next = (idx + 1) % label.definitions.length;
      row = await this.#move(
        app.uid,
        ['ELECTED'],
        'NEW',
        `definition ${idx} (${driverName}) failed: ${reason}; trying definition ${next} (attempt ${attempts + 1} of ${limit})`,
        { set: { node: null, driver: null, definition_index: next, attempts, cpu: 0, ram: 0 } },
        [{ kind: 'queue' }],
      );
    }
    if (!row) {
      // deallocation was requested while the (failed) allocation ran
      await this.#move(app.uid, ['DEALLOCATE'], 'DEALLOCATED', `deallocated; the allocation had failed: ${reason}`, {
        failPendingTasks: 'the application was never allocated',
      }, [{ kind: 'queue', node }]);
    }
    this.#d.wakeScheduler();
  }

  /** An allocation that timed out may still finish: remove what it makes. */
  #removeLate(uid: string, inst: DriverInstance, call: Promise<{ hwaddr: string }>): void {
    void call.then(
      async (r) => {
        this.#d.log.warn({ app: uid, driver: inst.instance, hwaddr: r.hwaddr }, 'an allocation finished after its timeout; removing it');
        await this.#driverDeallocate(uid, inst, r.hwaddr);
      },
      () => {},
    );
  }

  /** Removes a resource nobody wants any more, then finishes the application if it is ours. */
  async #undo(uid: string, inst: DriverInstance, hwaddr: string, description: string): Promise<void> {
    const ok = await this.#driverDeallocate(uid, inst, hwaddr);
    if (ok === undefined) return; // stopping: the next start finds it as an orphan and removes it
    if (!ok) {
      await this.#move(
        uid,
        ['DEALLOCATE'],
        'ERROR',
        `could not undo the allocation: deallocating ${hwaddr} failed: ${this.#lastDeallocError.get(uid) ?? 'unknown'}`,
        { failPendingTasks: 'the application was never allocated' },
        [{ kind: 'queue', node: this.#d.node }],
      );
      this.#lastDeallocError.delete(uid);
      return;
    }
    await this.#move(uid, ['DEALLOCATE'], 'DEALLOCATED', description, { failPendingTasks: 'the application was never allocated' }, [
      { kind: 'queue', node: this.#d.node },
    ]);
    this.#d.wakeScheduler();
  }

  // ── deallocation ────────────────────────────────────────────────────────

  /** Deallocates an application of this node that is in DEALLOCATE (no-op if already running). */
  deallocate(uid: string): void {
    // still allocating: stop its downloads and waits; the allocation then ends as DEALLOCATED
    if (this.#allocating.has(uid)) this.#allocAborts.get(uid)?.abort(new Error('the application was deallocated while it was being allocated'));
    if (this.#deallocating.has(uid) || this.#allocating.has(uid) || this.#stopping) return;
    this.#deallocating.add(uid);
    this.#d.meta.remove(uid);
    this.#track(
      this.#deallocate(uid)
        .catch((err: Error) => this.#d.log.error({ app: uid, err: err.message }, 'deallocation bookkeeping failed'))
        .finally(() => this.#deallocating.delete(uid)),
    );
  }

  async #deallocate(uid: string): Promise<void> {
    const { store, node, log } = this.#d;
    // running tasks (e.g. a snapshot) finish first
    const running = this.#tasks.get(uid);
    if (running) await Promise.allSettled([...running]);
    const res = await store.getResource(uid);
    if (!res) {
      if (this.#allocating.has(uid)) return; // the allocation's end will undo it
      await this.#move(uid, ['DEALLOCATE'], 'DEALLOCATED', 'deallocated; the allocation had not completed', {
        failPendingTasks: 'the application was never allocated',
      }, [{ kind: 'queue', node }]);
      this.#d.wakeScheduler();
      return;
    }
    for (const task of await store.pendingTasks(node, 'DEALLOCATE', uid)) await this.#runTask(task, res);
    const inst = this.#d.drivers.get(res.driver);
    if (!inst) {
      await this.#move(uid, ['DEALLOCATE'], 'ERROR', `driver instance ${res.driver} is not configured on node ${node}; ${res.hwaddr} may remain`, {
        deleteResource: true,
        failPendingTasks: 'the resource could not be deallocated',
      }, [{ kind: 'queue', node }]);
      return;
    }
    const ok = await this.#driverDeallocate(uid, inst, res.hwaddr);
    if (ok === undefined) return; // stopping: resumed at the next start
    if (ok) {
      await this.#move(uid, ['DEALLOCATE'], 'DEALLOCATED', `deallocated by ${res.driver} on node ${node}`, {
        deleteResource: true,
        failPendingTasks: 'the resource was deallocated before the task ran',
      }, [{ kind: 'queue', node }]);
      log.debug({ app: uid, driver: res.driver }, 'deallocated');
    } else {
      await this.#move(
        uid,
        ['DEALLOCATE'],
        'ERROR',
        `deallocation failed ${this.#d.limits.deallocateRetries} times: ${this.#lastDeallocError.get(uid) ?? 'unknown'}; ${res.hwaddr} may remain`,
        { deleteResource: true, failPendingTasks: 'the resource could not be deallocated' },
        [{ kind: 'queue', node }],
      );
    }
    this.#lastDeallocError.delete(uid);
    this.#d.wakeScheduler();
  }

  readonly #lastDeallocError = new Map<string, string>();

  /** driver.deallocate with exponential backoff: true = gone, false = gave up, undefined = stopping. */
  async #driverDeallocate(uid: string, inst: DriverInstance, hwaddr: string): Promise<boolean | undefined> {
    const { limits, log, metrics } = this.#d;
    for (let attempt = 1; ; attempt++) {
      try {
        await withTimeout(
          Promise.resolve().then(() => inst.driver.deallocate(hwaddr)),
          limits.deallocateTimeoutMs,
          `deallocate on ${inst.instance}`,
        );
        metrics.deallocations.inc({ driver: inst.instance, outcome: 'success' });
        return true;
      } catch (err) {
        const reason = reasonOf(err);
        this.#lastDeallocError.set(uid, reason);
        if (attempt >= limits.deallocateRetries) {
          metrics.deallocations.inc({ driver: inst.instance, outcome: 'failure' });
          log.error({ app: uid, driver: inst.instance, hwaddr, attempt, reason }, 'deallocation failed; giving up');
          return false;
        }
        metrics.deallocations.inc({ driver: inst.instance, outcome: 'retry' });
        const wait = Math.min(limits.deallocateBackoffMs * 2 ** (attempt - 1), limits.deallocateBackoffMaxMs);
        log.warn({ app: uid, driver: inst.instance, hwaddr, attempt, retryInMs: wait, reason }, 'deallocation failed; retrying');
        if (!(await this.#sleep(wait))) return undefined;
      }
    }
  }

  /** false when interrupted by stop() */
  #sleep(ms: number): Promise<boolean> {
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

  // ── tasks ───────────────────────────────────────────────────────────────

  /** Runs a NOW task of an ALLOCATED application of this node. */
  runTaskNow(task: TaskRow, res: ResourceRow): void {
    if (this.#stopping) return;
    void this.#runTask(task, res);
  }

  #runTask(task: TaskRow, res: ResourceRow): Promise<void> {
    const p = this.#track(this.#runTaskBody(task, res)).catch((err: Error) => {
      this.#d.log.error({ task: task.uid, err: err.message }, 'task bookkeeping failed');
    });
    let set = this.#tasks.get(task.application_uid);
    if (!set) this.#tasks.set(task.application_uid, (set = new Set()));
    set.add(p);
    void p.finally(() => {
      set.delete(p);
      if (set.size === 0) this.#tasks.delete(task.application_uid);
    });
    return p;
  }

  async #runTaskBody(task: TaskRow, res: ResourceRow): Promise<void> {
    const { store } = this.#d;
    if (!(await store.updateTask(task.uid, ['PENDING'], 'RUNNING', '', now()))) return; // someone else has it
    const inst = this.#d.drivers.get(res.driver);
    try {
      if (!inst) throw new Error(`driver instance ${res.driver} is not configured on node ${this.#d.node}`);
      const info = await withTimeout(
        Promise.resolve().then(() => inst.driver.snapshot(res.hwaddr, task.options.full === true)),
        this.#d.limits.snapshotTimeoutMs,
        `snapshot on ${inst.instance}`,
      );
      await store.updateTask(task.uid, ['RUNNING'], 'DONE', info, now());
    } catch (err) {
      await store.updateTask(task.uid, ['RUNNING'], 'FAILED', reasonOf(err), now());
    }
  }

  // ── work scan, lifetimes ────────────────────────────────────────────────

  /** Picks up DEALLOCATE applications and PENDING NOW tasks of this node (e.g. requested through another node). */
  scanWork(): void {
    if (this.#stopping) return;
    if (this.#scanning) {
      this.#scanAgain = true;
      return;
    }
    this.#scanning = true;
    void this.#track(
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
          } while (this.#scanAgain && !this.#stopping);
        } catch (err) {
          this.#d.log.error({ err: (err as Error).message }, 'work scan failed');
        } finally {
          this.#scanning = false;
        }
      })(),
    );
  }

  /** Moves ALLOCATED resources of this node whose lifetime ended to DEALLOCATE and deallocates them. */
  async expire(): Promise<void> {
    if (this.#stopping) return;
    const { store, node } = this.#d;
    const at = now();
    for (let round = 0; round < 100; round++) {
      const due = await store.expiredResources(node, at, 500);
      if (due.length === 0) break;
      const rows = await Promise.all(
        due.map((r) => this.#move(r.application_uid, ['ALLOCATED'], 'DEALLOCATE', `lifetime ended at ${r.expires_at}`)),
      );
      due.forEach((r, i) => {
        if (rows[i]) this.deallocate(r.application_uid);
      });
      if (due.length < 500) break;
    }
    this.#armExpiry(this.#d.meta.nextExpiry() ?? Infinity, true);
  }

  /** Sets the expiry timer to `at` if that is sooner than the one set (or always, with `reset`). */
  #armExpiry(at: number, reset = false): void {
    if (this.#stopping) return;
    if (!reset && at >= this.#expiryAt) return;
    if (this.#expiryTimer) clearTimeout(this.#expiryTimer);
    this.#expiryTimer = undefined;
    this.#expiryAt = at;
    if (!Number.isFinite(at)) return;
    const delay = Math.max(0, Math.min(at - Date.now() + 5, 2 ** 31 - 1));
    this.#expiryTimer = setTimeout(() => {
      this.#expiryTimer = undefined;
      this.#expiryAt = Infinity;
      void this.#track(this.expire().catch((err: Error) => this.#d.log.error({ err: err.message }, 'lifetime check failed')));
    }, delay);
    this.#expiryTimer.unref();
  }

  /**
   * ELECTED applications of this node that no allocation is working on (its bookkeeping failed,
   * e.g. the database was away) go back to NEW; called from the heartbeat.
   */
  async sweepStuck(graceMs: number): Promise<number> {
    if (this.#stopping) return 0;
    const before = Date.now() - graceMs;
    let n = 0;
    for (const app of await this.#d.store.applicationsOn(this.#d.node, ['ELECTED'])) {
      if (this.#allocating.has(app.uid) || Date.parse(app.status_at) > before) continue;
      const row = await this.#move(app.uid, ['ELECTED'], 'NEW', `allocation on node ${this.#d.node} was interrupted; waiting for a node again`, {
        set: { node: null, driver: null, cpu: 0, ram: 0 },
      }, [{ kind: 'queue' }]);
      if (row) n++;
    }
    return n;
  }

  // ── restart reconciliation ──────────────────────────────────────────────

  /**
   * After a restart, before any new work: every resource of this node is checked with its driver's
   * status() (kept, or ERROR if it vanished), interrupted allocations go back to NEW (or ERROR past
   * the retry limit), and resources the drivers have but the store does not know are deallocated.
   * DEALLOCATE applications resume afterwards (scanWork).
   */
  async reconcile(): Promise<{ kept: number; vanished: number; requeued: number; orphans: number }> {
    const { store, node, log, drivers } = this.#d;
    const out = { kept: 0, vanished: 0, requeued: 0, orphans: 0 };
    const apps = await store.applicationsOn(node, ['ELECTED', 'ALLOCATED']);
    for (const app of apps) {
      if (app.status === 'ELECTED') {
        const label = await this.#d.label(app.label_uid);
        const attempts = app.attempts + 1;
        const limit = Math.max(this.#d.limits.allocateRetries, label.definitions.length);
        const row =
          attempts >= limit
            ? await this.#move(app.uid, ['ELECTED'], 'ERROR', `allocation interrupted by a restart of node ${node}, ${attempts} failed attempts`, {
                set: { attempts },
                failPendingTasks: 'the application was never allocated',
              })
            : await this.#move(app.uid, ['ELECTED'], 'NEW', `allocation interrupted by a restart of node ${node}; waiting for a node again`, {
                set: { node: null, driver: null, attempts, cpu: 0, ram: 0 },
              }, [{ kind: 'queue' }]);
        if (row?.status === 'NEW') out.requeued++;
        continue;
      }
      const res = await store.getResource(app.uid);
      if (!res) {
        await this.#move(app.uid, ['ALLOCATED'], 'ERROR', 'resource record missing after a node restart');
        out.vanished++;
        continue;
      }
      const inst = drivers.get(res.driver);
      let status: string | undefined;
      if (inst?.enabled) {
        try {
          status = await withTimeout(Promise.resolve().then(() => inst.driver.status(res.hwaddr)), CHECK_TIMEOUT_MS, `status on ${inst.instance}`);
        } catch (err) {
          log.warn({ app: app.uid, driver: res.driver, reason: reasonOf(err) }, 'status check failed after restart; keeping the resource');
        }
      } else {
        log.warn({ app: app.uid, driver: res.driver }, 'driver instance not enabled; cannot check the resource, keeping it');
      }
      if (status === 'NONE') {
        await this.#move(
          app.uid,
          ['ALLOCATED'],
          'ERROR',
          `resource vanished: ${res.driver} no longer has ${res.hwaddr} (checked when node ${node} restarted)`,
          { deleteResource: true, failPendingTasks: 'the resource vanished' },
        );
        out.vanished++;
      } else {
        this.#d.meta.add(res);
        out.kept++;
      }
    }
    const known = await store.knownHwaddrs();
    for (const inst of drivers.values()) {
      if (!inst.enabled || !inst.driver.listResources) continue;
      let listed: string[];
      try {
        const list = inst.driver.listResources.bind(inst.driver);
        listed = await withTimeout(Promise.resolve().then(list), CHECK_TIMEOUT_MS, `listResources on ${inst.instance}`);
      } catch (err) {
        log.warn({ driver: inst.instance, reason: reasonOf(err) }, 'could not list resources for orphan cleanup');
        continue;
      }
      for (const hwaddr of listed) {
        if (known.has(hwaddr)) continue;
        log.info({ driver: inst.instance, hwaddr }, 'deallocating an orphan the store does not know');
        try {
          await withTimeout(Promise.resolve().then(() => inst.driver.deallocate(hwaddr)), this.#d.limits.deallocateTimeoutMs, `deallocate on ${inst.instance}`);
          out.orphans++;
        } catch (err) {
          log.warn({ driver: inst.instance, hwaddr, reason: reasonOf(err) }, 'orphan deallocation failed; will retry at the next start');
        }
      }
    }
    this.#armExpiry(this.#d.meta.nextExpiry() ?? Infinity, true);
    return out;
  }

  // ── stop ────────────────────────────────────────────────────────────────

  /** Stops taking work, cancels retry waits (those resume at the next start), waits for driver calls. */
  async stop(): Promise<void> {
    this.#stopping = true;
    for (const a of this.#allocAborts.values()) a.abort(new Error('the node is stopping'));
    if (this.#expiryTimer) clearTimeout(this.#expiryTimer);
    for (const s of this.#sleeps) {
      clearTimeout(s.timer);
      s.resolve();
    }
    this.#sleeps.clear();
    const deadline = Date.now() + this.#d.limits.stopTimeoutMs;
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
    if (this.#inflight.size > 0) this.#d.log.warn({ inflight: this.#inflight.size }, 'stopped with driver calls still running');
  }
}
