/** What one driver instance tracks about its running VMs in memory: Meta API channels, boot slots, pids. */
import { join } from 'node:path';
import type { MetaChannel } from '../shared/meta-channel.js';
import type { Prepared } from './prepared.js';
import type { VmState } from './state.js';
import { findProcesses, isOurProcess, readPidFile } from './vm-process.js';

export class VmRuntime {
  /** hwaddr → the VM's open Meta API channel */
  readonly channels = new Map<string, MetaChannel>();
  /** hwaddr → the release of the boot slot it holds (until its guest first asks the Meta API, or a timeout) */
  readonly #bootReleases = new Map<string, () => void>();

  holdBoot(hwaddr: string, release: () => void): void {
    this.#bootReleases.set(hwaddr, release);
  }

  releaseBoot(hwaddr: string): void {
    const release = this.#bootReleases.get(hwaddr);
    if (!release) return;
    this.#bootReleases.delete(hwaddr);
    release();
  }

  releaseAllBoots(): void {
    for (const hwaddr of [...this.#bootReleases.keys()]) this.releaseBoot(hwaddr);
  }

  async closeChannel(hwaddr: string): Promise<void> {
    const channel = this.channels.get(hwaddr);
    this.channels.delete(hwaddr);
    if (channel) await channel.close();
  }

  /** The live QEMU pid of a VM: from its state, its pid file, or a /proc scan for its marker. */
  async findPid(p: Prepared, hwaddr: string, state: VmState | undefined): Promise<number | undefined> {
    const marker = p.paths.marker(hwaddr);
    if (state?.pid !== undefined && (await isOurProcess(state.pid, marker))) return state.pid;
    const fromFile = await readPidFile(state?.pidFile ?? join(p.paths.vmDir(hwaddr), 'qemu.pid'));
    if (fromFile !== undefined && (await isOurProcess(fromFile, marker))) return fromFile;
    return (await findProcesses(marker)).get(marker);
  }
}
