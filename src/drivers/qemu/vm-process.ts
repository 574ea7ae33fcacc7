/**
 * The QEMU process of a VM: its command line, starting it daemonized (so it outlives the node
 * process and a restarted node can re-attach), finding it again in /proc, and stopping it.
 */
import { readdir, readFile } from 'node:fs/promises';
import { DriverError } from '../../contract/index.js';
import { run } from '../shared/exec.js';

export interface VmDiskArg {
  nodeName: string;
  serial: string;
  format: 'qcow2' | 'raw';
  path: string;
  bootIndex?: number;
}

export interface VmSpec {
  /** marker on the command line: `-name shoal/<instance tag>/<mac id>` finds the process in /proc */
  marker: string;
  accel: 'kvm' | 'tcg';
  machine: string;
  cpu: number;
  ramGb: number;
  mac: string;
  /** firmware file ('' = QEMU's default SeaBIOS) */
  firmware: string;
  kernel: string | undefined;
  initrd: string | undefined;
  append: string;
  disks: VmDiskArg[];
  qmpSocket: string;
  consoleLog: string;
  pidFile: string;
  /**
   * `ds=nocloud-net;s=<url>`: cloud-init's seed, put in the SMBIOS type-1 serial (images booting
   * with their own bootloader) and on the kernel command line (direct kernel boot)
   */
  cloudInitSeed: string;
  /** the namespace-side address on which slirp forwards port 22 to the guest's sshd */
  sshForwardAddress: string;
}

/** QEMU option values escape "," as ",,". */
function q(value: string): string {
  return value.replaceAll(',', ',,');
}

export function buildArgs(spec: VmSpec): string[] {
  const args = [
    '-name',
    `${spec.marker},debug-threads=off`,
    '-machine',
    `${spec.machine},accel=${spec.accel}`,
    '-cpu',
    spec.accel === 'kvm' ? 'host' : 'max',
    '-smp',
    String(spec.cpu),
    '-m',
    `${spec.ramGb}G`,
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-vga',
    'none',
    // seccomp: no obsolete syscalls, no scheduler/affinity games. Spawning stays allowed (the memory
    // snapshot's `exec:` migration needs it); elevateprivileges=deny would also
    // forbid what -daemonize does (QEMU 7.2 then exits 1 without a message)
    '-sandbox',
    'on,obsolete=deny,resourcecontrol=deny',
    '-chardev',
    `file,id=console,path=${q(spec.consoleLog)},append=on`,
    '-serial',
    'chardev:console',
    '-smbios',
    `type=1,serial=${q(spec.cloudInitSeed)}`,
    '-qmp',
    `unix:${q(spec.qmpSocket)},server=on,wait=off`,
    '-pidfile',
    spec.pidFile,
    '-daemonize',
  ];
  if (spec.firmware) args.push('-bios', spec.firmware);
  if (spec.kernel) {
    args.push('-kernel', spec.kernel);
    if (spec.initrd) args.push('-initrd', spec.initrd);
    let append = /(^|\s)console=/.test(spec.append) ? spec.append : `console=ttyS0 ${spec.append}`.trim();
    if (!/(^|\s)ds=/.test(append)) append = `${append} ${spec.cloudInitSeed}`;
    args.push('-append', append);
  }
  for (const d of spec.disks) {
    args.push(
      '-blockdev',
      `driver=${d.format},node-name=${d.nodeName},file.driver=file,file.filename=${q(d.path)},cache.direct=off,discard=unmap`,
    );
    args.push(
      '-device',
      // with -kernel QEMU refuses a disk's bootindex 0 ("already used"): the kernel is what boots
      `virtio-blk-pci,drive=${d.nodeName},serial=${q(d.serial)}${d.bootIndex === undefined || spec.kernel ? '' : `,bootindex=${d.bootIndex}`}`,
    );
  }
  // user-mode networking for DHCP and outbound sockets; QEMU runs in the VM's own network
  // namespace (host-net.ts), which decides what those sockets reach. No guestfwd: nothing is
  // spawned per guest connection. The guest's port 22 is forwarded from the namespace's own
  // address, which only the node host can reach (over the VM's veth): the access path to its sshd.
  args.push('-netdev', `user,id=net0,ipv6=off,hostfwd=tcp:${spec.sshForwardAddress}:22-:22`);
  args.push('-device', `virtio-net-pci,netdev=net0,mac=${spec.mac}`);
  return args;
}

/**
 * Start QEMU with -daemonize: resolves once the VM is initialised and QEMU wrote its pid file;
 * rejects with BACKEND and QEMU's own message when it refuses to start.
 */
export async function startQemu(qemuSystem: string, args: string[], timeoutMs = 60_000): Promise<void> {
  const r = await run(qemuSystem, args, { timeoutMs, allowFailure: true });
  if (r.code !== 0) {
    throw new DriverError('BACKEND', `qemu did not start (exit ${r.code}): ${r.stderr.trim().slice(0, 2000) || 'no message'}`);
  }
}

export async function readPidFile(path: string): Promise<number | undefined> {
  try {
    const n = Number.parseInt((await readFile(path, 'utf8')).trim(), 10);
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

async function cmdline(pid: number): Promise<string[] | undefined> {
  try {
    const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    if (raw === '') return undefined; // zombie or kernel thread
    return raw.split('\0').filter((s, i, a) => !(s === '' && i === a.length - 1));
  } catch {
    return undefined;
  }
}

/** The -name marker of a QEMU command line, if any. */
function markerOf(args: string[]): string | undefined {
  const i = args.indexOf('-name');
  if (i < 0 || i + 1 >= args.length) return undefined;
  return args[i + 1]!.split(',')[0];
}

/** Whether `pid` is alive (not a zombie) and is the QEMU carrying `marker`. */
export async function isOurProcess(pid: number | undefined, marker: string): Promise<boolean> {
  if (pid === undefined) return false;
  const args = await cmdline(pid);
  return args !== undefined && markerOf(args) === marker;
}

/** Every live QEMU process whose marker starts with `prefix`: marker → pid. */
export async function findProcesses(prefix: string): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return found;
  }
  await Promise.all(
    entries
      .filter((e) => /^\d+$/.test(e))
      .map(async (e) => {
        const pid = Number(e);
        const args = await cmdline(pid);
        const m = args && markerOf(args);
        if (m && m.startsWith(prefix)) found.set(m, pid);
      }),
  );
  return found;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Wait until `pid` no longer runs `marker` (exited, zombie or reused); false on timeout. */
export async function waitGone(pid: number, marker: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!(await isOurProcess(pid, marker))) return true;
    if (Date.now() >= deadline) return false;
    await sleep(50);
  }
}

/** SIGKILL `pid` if it is still our QEMU, and wait for it to go. */
export async function killHard(pid: number, marker: string, timeoutMs = 10_000): Promise<void> {
  if (!(await isOurProcess(pid, marker))) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
  if (!(await waitGone(pid, marker, timeoutMs))) {
    throw new DriverError('BACKEND', `qemu process ${pid} did not exit after SIGKILL`);
  }
}
