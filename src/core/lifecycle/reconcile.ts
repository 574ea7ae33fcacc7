import { callDriver } from './call-driver.js';
import type { LifecycleDeps } from './lifecycle-deps.js';
import type { StateMoves } from './state-moves.js';

/** status()/listResources() at restart: a backend that does not answer in a minute is treated as unknown */
const CHECK_TIMEOUT_MS = 60_000;

export interface Reconciled {
  kept: number;
  vanished: number;
  requeued: number;
  orphans: number;
}

/**
 * After a restart, before any new work: every resource of this node is checked with its driver's
 * status() (kept, or ERROR if it vanished), interrupted allocations go back to NEW (or ERROR past
 * the retry limit), and resources the drivers have but the store does not know are deallocated.
 * DEALLOCATE applications resume afterwards (the work scan).
 */
export async function reconcile(d: LifecycleDeps, moves: StateMoves): Promise<Reconciled> {
  const { store, node, log, drivers } = d;
  const out: Reconciled = { kept: 0, vanished: 0, requeued: 0, orphans: 0 };
  for (const app of await store.applicationsOn(node, ['ELECTED', 'ALLOCATED'])) {
    if (app.status === 'ELECTED') {
      const row = await moves.retryOrError(app, await d.label(app.label_uid), {
        nextDefinition: false,
        error: (attempts) => `allocation interrupted by a restart of node ${node}, ${attempts} failed attempts`,
        retry: () => `allocation interrupted by a restart of node ${node}; waiting for a node again`,
      });
      if (row?.status === 'NEW') out.requeued++;
      continue;
    }
    const res = await store.getResource(app.uid);
    if (!res) {
      await moves.move(app.uid, ['ALLOCATED'], 'ERROR', 'resource record missing after a node restart');
      out.vanished++;
      continue;
    }
    const inst = drivers.get(res.driver);
    let status: string | undefined;
    if (inst?.enabled) {
      const r = await callDriver({
        what: `status on ${inst.instance}`,
        timeoutMs: CHECK_TIMEOUT_MS,
        run: () => inst.driver.status(res.hwaddr),
      });
      if (r.ok) status = r.value;
      else log.warn({ app: app.uid, driver: res.driver, reason: r.reason }, 'status check failed after restart; keeping the resource');
    } else {
      log.warn({ app: app.uid, driver: res.driver }, 'driver instance not enabled; cannot check the resource, keeping it');
    }
    if (status === 'NONE') {
      await moves.move(
        app.uid,
        ['ALLOCATED'],
        'ERROR',
        `resource vanished: ${res.driver} no longer has ${res.hwaddr} (checked when node ${node} restarted)`,
        { deleteResource: true, failPendingTasks: 'the resource vanished' },
      );
      out.vanished++;
    } else {
      d.meta.add(res);
      out.kept++;
    }
  }
  out.orphans = await removeOrphans(d);
  return out;
}

/** Deallocates what the drivers have but no node's store record knows; returns how many went. */
async function removeOrphans(d: LifecycleDeps): Promise<number> {
  const { store, log, drivers } = d;
  const known = await store.knownHwaddrs();
  let removed = 0;
  for (const inst of drivers.values()) {
    const list = inst.driver.listResources?.bind(inst.driver);
    if (!inst.enabled || !list) continue;
    const listed = await callDriver({ what: `listResources on ${inst.instance}`, timeoutMs: CHECK_TIMEOUT_MS, run: () => list() });
    if (!listed.ok) {
      log.warn({ driver: inst.instance, reason: listed.reason }, 'could not list resources for orphan cleanup');
      continue;
    }
    for (const hwaddr of listed.value) {
      if (known.has(hwaddr)) continue;
      log.info({ driver: inst.instance, hwaddr }, 'deallocating an orphan the store does not know');
      const r = await callDriver({
        what: `deallocate on ${inst.instance}`,
        timeoutMs: d.limits.deallocateTimeoutMs,
        run: () => inst.driver.deallocate(hwaddr),
      });
      if (r.ok) removed++;
      else log.warn({ driver: inst.instance, hwaddr, reason: r.reason }, 'orphan deallocation failed; will retry at the next start');
    }
  }
  return removed;
}

/**
 * While the node runs (every `resourceCheckMs`): each ALLOCATED resource of this node is checked
 * with its driver's status(). One whose backend no longer runs it (a Docker daemon restarted and
 * stopped its containers, a VM that died, a file removed behind the node's back) goes to ERROR
 * saying so, and what is left of it (a stopped container, its disks) is deallocated. A status that
 * cannot be read keeps the resource. Only resources recorded in the store are touched, so an
 * allocation in flight is never taken for an orphan. Returns how many vanished.
 */
export async function checkAllocated(d: LifecycleDeps, moves: StateMoves): Promise<number> {
  const { store, node, log, drivers } = d;
  let vanished = 0;
  for (const app of await store.applicationsOn(node, ['ALLOCATED'])) {
    const res = await store.getResource(app.uid);
    const inst = res ? drivers.get(res.driver) : undefined;
    if (!res || !inst?.enabled) continue;
    const r = await callDriver({
      what: `status on ${inst.instance}`,
      timeoutMs: CHECK_TIMEOUT_MS,
      run: () => inst.driver.status(res.hwaddr),
    });
    if (!r.ok || r.value !== 'NONE') continue;
    const moved = await moves.move(
      app.uid,
      ['ALLOCATED'],
      'ERROR',
      `resource vanished: ${res.driver} no longer runs ${res.hwaddr} (found by node ${node}'s resource check); what was left of it is removed`,
      { deleteResource: true, failPendingTasks: 'the resource vanished' },
    );
    if (!moved) continue;
    vanished++;
    d.meta.remove(app.uid);
    log.warn({ app: app.uid, driver: res.driver, hwaddr: res.hwaddr }, 'a resource vanished behind the node; removing what is left');
    const gone = await callDriver({
      what: `deallocate on ${inst.instance}`,
      timeoutMs: d.limits.deallocateTimeoutMs,
      run: () => inst.driver.deallocate(res.hwaddr),
    });
    if (!gone.ok)
      log.warn(
        { driver: inst.instance, hwaddr: res.hwaddr, reason: gone.reason },
        'removing a vanished resource failed; the next start removes it',
      );
  }
  return vanished;
}
