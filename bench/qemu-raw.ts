// The raw backend for the qemu benchmarks: the test guest started by hand with qemu-system (no
// Shoal), with the same machine, firmware, kernel and memory as a driver VM, and the simplest
// Meta API relay QEMU offers by hand (user-mode network, guestfwd → socat → a unix-socket HTTP
// server; the driver instead runs each VM in its own network namespace, see docs/drivers/qemu.md). Reusable: startRawGuest() gives
// the process and a promise for the guest's first Meta API request; timeRawBoot() measures it.
import { spawn } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { TestGuest } from '../src/drivers/qemu/test-support.js';

export interface RawGuestOptions {
  guest: TestGuest;
  /** a scratch directory (created; sockets and the console log go there) */
  workDir: string;
  accel: 'kvm' | 'tcg';
  cpu?: number;
  ramGb?: number;
  /** metadata served to the guest */
  metadata?: Record<string, unknown>;
}

export interface RawGuest {
  pid: number;
  /** resolves at the guest's first Meta API request (performance.now() at that moment) */
  metaServed: Promise<number>;
  stop(): Promise<void>;
}

export async function startRawGuest(opts: RawGuestOptions): Promise<RawGuest> {
  await mkdir(opts.workDir, { recursive: true });
  const metaSock = join(opts.workDir, 'meta.sock');
  await rm(metaSock, { force: true });
  let served!: (t: number) => void;
  const metaServed = new Promise<number>((r) => (served = r));
  const body = JSON.stringify(opts.metadata ?? { RAW: 'yes' });
  const server = createServer((_req, res) => {
    served(performance.now());
    res.setHeader('content-type', 'application/json');
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(metaSock, r));
  const args = [
    '-machine',
    `q35,accel=${opts.accel}`,
    '-cpu',
    opts.accel === 'kvm' ? 'host' : 'max',
    '-smp',
    String(opts.cpu ?? 1),
    '-m',
    `${opts.ramGb ?? 1}G`,
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-vga',
    'none',
    '-bios',
    '/usr/share/qemu/qboot.rom',
    '-kernel',
    opts.guest.kernel.path,
    '-initrd',
    opts.guest.initrd.path,
    '-append',
    'console=ttyS0 quiet panic=-1 shoal.meta=http://10.0.2.100/meta/v1/data', // the guest's default is the driver's 169.254.169.254
    '-chardev',
    `file,id=console,path=${join(opts.workDir, 'console.log')}`,
    '-serial',
    'chardev:console',
    '-netdev',
    `user,id=net0,restrict=on,guestfwd=tcp:10.0.2.100:80-cmd:/usr/bin/socat STDIO UNIX-CONNECT:${metaSock}`,
    '-device',
    'virtio-net-pci,netdev=net0,mac=52:54:00:00:be:01',
  ];
  const child = spawn('qemu-system-x86_64', args, { stdio: 'ignore' });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    pid: child.pid ?? -1,
    metaServed,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await rm(opts.workDir, { recursive: true, force: true });
    },
  };
}

/** Milliseconds from starting qemu-system to the guest's first Meta API request (bounded). */
export async function timeRawBoot(opts: RawGuestOptions, timeoutMs = 120_000): Promise<number> {
  const t0 = performance.now();
  const vm = await startRawGuest(opts);
  try {
    let timer: NodeJS.Timeout | undefined;
    const t1 = await Promise.race([
      vm.metaServed,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`raw guest did not reach the Meta API in ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    return t1 - t0;
  } finally {
    await vm.stop();
  }
}
