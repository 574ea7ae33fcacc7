/**
 * Taking a VM down (deallocate, and the undo of a failed allocation): stop QEMU, then remove its
 * Meta API channel, network, sockets, overlays, non-reused disks, directory and state file.
 */
import { rm } from 'node:fs/promises';
import type { DriverLogger } from '../../contract/index.js';
import { removeVmNet } from '../shared/host-net.js';
import type { Prepared } from './prepared.js';
import { withQmp } from './qmp-client.js';
import type { VmState } from './state.js';
import { findProcesses, killHard, waitGone } from './vm-process.js';
import type { VmRuntime } from './vm-runtime.js';

const QUIT_WAIT_MS = 5_000;
const POWERDOWN_REPEAT_MS = 3_000;

export class VmTeardown {
  readonly #log: DriverLogger;
  readonly #runtime: VmRuntime;

  constructor(log: DriverLogger, runtime: VmRuntime) {
    this.#log = log;
    this.#runtime = runtime;
  }

  /**
   * Stop the VM (ACPI power button with a deadline, then QMP quit, then SIGKILL) and remove its
   * sockets, overlays, non-reused disks, directory and state file (last). Idempotent.
   */
  async destroy(p: Prepared, hwaddr: string, opts: { graceful: boolean; alsoRemove: string[] }): Promise<void> {
    let state: VmState | undefined;
    try {
      state = await p.states.read(hwaddr);
    } catch (err) {
      this.#log.warn({ hwaddr, err: (err as Error).message }, 'unreadable VM state file: removing by convention');
    }
    const marker = p.paths.marker(hwaddr);
    const qmpSocket = state?.qmpSocket ?? p.paths.qmpSocket(hwaddr);
    const pid = await this.#runtime.findPid(p, hwaddr, state);
    // a VM whose allocation never finished (crashed node) was never handed out: no need to be gentle
    const graceful = opts.graceful && state?.phase === 'running';
    if (pid !== undefined) await this.#stopProcess(p, hwaddr, pid, marker, qmpSocket, graceful);
    // a QEMU started by a crashed allocation may not have written its pid file: scan once more
    const stray = (await findProcesses(marker)).get(marker);
    if (stray !== undefined) await killHard(stray, marker);

    this.#runtime.releaseBoot(hwaddr);
    await this.#runtime.closeChannel(hwaddr);
    await removeVmNet(p.netNames, hwaddr);
    await rm(qmpSocket, { force: true });
    for (const d of state?.disks ?? []) if (!d.keep) await rm(d.path, { force: true });
    for (const path of opts.alsoRemove) await rm(path, { force: true });
    await rm(state?.dir ?? p.paths.vmDir(hwaddr), { recursive: true, force: true });
    await p.states.remove(hwaddr);
    if (state || pid !== undefined) this.#log.info({ hwaddr }, 'VM deallocated');
  }

  async #stopProcess(p: Prepared, hwaddr: string, pid: number, marker: string, qmpSocket: string, graceful: boolean): Promise<void> {
    if (graceful && p.config.shutdownTimeoutSeconds > 0) {
      // the power button is pressed again every few seconds: a guest still booting misses a press
      const deadline = Date.now() + p.config.shutdownTimeoutSeconds * 1000;
      try {
        while (Date.now() < deadline) {
          await withQmp(qmpSocket, (q) => q.execute('system_powerdown'), { timeoutMs: 5_000 });
          if (await waitGone(pid, marker, Math.min(POWERDOWN_REPEAT_MS, deadline - Date.now()))) return;
        }
        this.#log.warn({ hwaddr }, 'guest did not power off in time: quitting qemu');
      } catch (err) {
        if (await waitGone(pid, marker, 200)) return;
        this.#log.warn({ hwaddr, err: (err as Error).message }, 'ACPI power-down failed: quitting qemu');
      }
    }
    try {
      await withQmp(qmpSocket, (q) => q.execute('quit'), { timeoutMs: 5_000 });
      if (await waitGone(pid, marker, QUIT_WAIT_MS)) return;
    } catch {
      // QMP unreachable or closed while quitting: check below
    }
    if (await waitGone(pid, marker, 200)) return;
    await killHard(pid, marker);
  }
}
