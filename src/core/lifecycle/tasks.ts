import type { ResourceRow, TaskRow } from '../../store/store.js';
import { callDriver, reasonOf } from './call-driver.js';
import { now, type LifecycleDeps } from './lifecycle-deps.js';
import type { WorkTracker } from './work-tracker.js';

/** Tasks (snapshots) of this node's resources: run now, or before a deallocation. */
export class Tasks {
  readonly #d: LifecycleDeps;
  readonly #work: WorkTracker;
  /** uid → running tasks of that application */
  readonly #running = new Map<string, Set<Promise<void>>>();

  constructor(deps: LifecycleDeps, work: WorkTracker) {
    this.#d = deps;
    this.#work = work;
  }

  /** Runs a NOW task of an ALLOCATED application of this node. */
  runNow(task: TaskRow, res: ResourceRow): void {
    if (this.#work.stopping) return;
    void this.run(task, res);
  }

  /** Resolves when every task of `uid` running now has ended. */
  async settle(uid: string): Promise<void> {
    const running = this.#running.get(uid);
    if (running) await Promise.allSettled([...running]);
  }

  /** Runs a task; resolves when it has ended (never rejects). */
  run(task: TaskRow, res: ResourceRow): Promise<void> {
    const p = this.#work.track(this.#run(task, res)).catch((err: Error) => {
      this.#d.log.error({ task: task.uid, err: err.message }, 'task bookkeeping failed');
    });
    let set = this.#running.get(task.application_uid);
    if (!set) this.#running.set(task.application_uid, (set = new Set()));
    set.add(p);
    void p.finally(() => {
      set.delete(p);
      if (set.size === 0) this.#running.delete(task.application_uid);
    });
    return p;
  }

  async #run(task: TaskRow, res: ResourceRow): Promise<void> {
    const { store } = this.#d;
    if (!(await store.updateTask(task.uid, ['PENDING'], 'RUNNING', '', now()))) return; // someone else has it
    const inst = this.#d.drivers.get(res.driver);
    if (!inst) {
      await store.updateTask(
        task.uid,
        ['RUNNING'],
        'FAILED',
        `driver instance ${res.driver} is not configured on node ${this.#d.node}`,
        now(),
      );
      return;
    }
    const r = await callDriver({
      what: `snapshot on ${inst.instance}`,
      timeoutMs: this.#d.limits.snapshotTimeoutMs,
      run: () => inst.driver.snapshot(res.hwaddr, task.options.full === true),
    });
    let reason = r.ok ? '' : r.reason;
    if (r.ok) {
      try {
        await store.updateTask(task.uid, ['RUNNING'], 'DONE', r.value, now());
        return;
      } catch (err) {
        reason = reasonOf(err); // recording DONE failed: the task must not stay RUNNING
      }
    }
    await store.updateTask(task.uid, ['RUNNING'], 'FAILED', reason, now());
  }
}
