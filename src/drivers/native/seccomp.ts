/**
 * The sandboxes' default seccomp filter, as the classic BPF program `bwrap --seccomp FD` loads
 * (struct sock_filter: u16 code, u8 jt, u8 jf, u32 k, little-endian). Modelled on Docker's default
 * profile for a process without capabilities: what only an administrator of the host needs
 * (modules, kexec, reboot, clocks, swap, quotas, accounting), the mount API, keyrings, BPF,
 * perf, userfaultfd, io_uring, new namespaces (unshare, setns, clone with a CLONE_NEW* flag) and
 * cross-process memory access fail with EPERM; clone3 fails with ENOSYS so libc falls back to
 * clone, whose flags the filter can see. Another architecture than x86-64, or the x32 ABI, is
 * killed. Everything else is allowed.
 */
import { arch } from 'node:os';

const BPF_LD_W_ABS = 0x20;
const BPF_JMP_JEQ_K = 0x15;
const BPF_JMP_JGE_K = 0x35;
const BPF_JMP_JSET_K = 0x45;
const BPF_RET_K = 0x06;
const SECCOMP_RET_KILL_PROCESS = 0x80000000;
const SECCOMP_RET_ERRNO = 0x00050000;
const SECCOMP_RET_ALLOW = 0x7fff0000;
const EPERM = 1;
const ENOSYS = 38;
const AUDIT_ARCH_X86_64 = 0xc000003e;
const X32_SYSCALL_BIT = 0x40000000;
/** offsets in struct seccomp_data */
const OFF_NR = 0;
const OFF_ARCH = 4;
const OFF_ARG0_LOW = 16;
/** CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET */
const CLONE_NEW_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000;
const SYS_CLONE = 56;
const SYS_CLONE3 = 435;

/** x86-64 system calls that fail with EPERM (name → number). */
export const DENIED_SYSCALLS: Readonly<Record<string, number>> = {
  uselib: 134,
  ustat: 136,
  sysfs: 139,
  vhangup: 153,
  pivot_root: 155,
  _sysctl: 156,
  acct: 163,
  settimeofday: 164,
  mount: 165,
  umount2: 166,
  swapon: 167,
  swapoff: 168,
  reboot: 169,
  iopl: 172,
  ioperm: 173,
  create_module: 174,
  init_module: 175,
  delete_module: 176,
  get_kernel_syms: 177,
  query_module: 178,
  quotactl: 179,
  nfsservctl: 180,
  lookup_dcookie: 212,
  clock_settime: 227,
  mbind: 237,
  set_mempolicy: 238,
  get_mempolicy: 239,
  kexec_load: 246,
  add_key: 248,
  request_key: 249,
  keyctl: 250,
  unshare: 272,
  move_pages: 279,
  perf_event_open: 298,
  name_to_handle_at: 303,
  open_by_handle_at: 304,
  clock_adjtime: 305,
  setns: 308,
  process_vm_readv: 310,
  process_vm_writev: 311,
  kcmp: 312,
  finit_module: 313,
  kexec_file_load: 320,
  bpf: 321,
  userfaultfd: 323,
  io_uring_setup: 425,
  io_uring_enter: 426,
  io_uring_register: 427,
  open_tree: 428,
  move_mount: 429,
  fsopen: 430,
  fsconfig: 431,
  fsmount: 432,
  fspick: 433,
  mount_setattr: 442,
  quotactl_fd: 443,
};

/** One instruction; jt/jf name a label (jumps are forward only) or are absent for "the next one". */
interface Insn {
  code: number;
  k: number;
  jt?: string;
  jf?: string;
  label?: string;
}

/** The filter for this host, or undefined when the driver has none for its architecture. */
export function defaultSeccompFilter(machine: string = arch()): Buffer | undefined {
  if (machine !== 'x64') return undefined;
  const prog: Insn[] = [
    { code: BPF_LD_W_ABS, k: OFF_ARCH },
    { code: BPF_JMP_JEQ_K, k: AUDIT_ARCH_X86_64, jf: 'kill' },
    { code: BPF_LD_W_ABS, k: OFF_NR },
    { code: BPF_JMP_JGE_K, k: X32_SYSCALL_BIT, jt: 'kill' },
    ...Object.values(DENIED_SYSCALLS).map((nr): Insn => ({ code: BPF_JMP_JEQ_K, k: nr, jt: 'eperm' })),
    { code: BPF_JMP_JEQ_K, k: SYS_CLONE3, jt: 'enosys' },
    { code: BPF_JMP_JEQ_K, k: SYS_CLONE, jt: 'clone' },
    { code: BPF_RET_K, k: SECCOMP_RET_ALLOW },
    { code: BPF_LD_W_ABS, k: OFF_ARG0_LOW, label: 'clone' },
    { code: BPF_JMP_JSET_K, k: CLONE_NEW_FLAGS, jt: 'eperm' },
    { code: BPF_RET_K, k: SECCOMP_RET_ALLOW },
    { code: BPF_RET_K, k: SECCOMP_RET_ERRNO | EPERM, label: 'eperm' },
    { code: BPF_RET_K, k: SECCOMP_RET_ERRNO | ENOSYS, label: 'enosys' },
    { code: BPF_RET_K, k: SECCOMP_RET_KILL_PROCESS, label: 'kill' },
  ];
  const labels = new Map<string, number>();
  prog.forEach((p, i) => {
    if (p.label) labels.set(p.label, i);
  });
  const offset = (from: number, label: string | undefined): number => {
    if (label === undefined) return 0;
    const d = labels.get(label)! - from - 1;
    if (d < 0 || d > 255) throw new Error(`seccomp filter: jump from ${from} to ${label} out of range`);
    return d;
  };
  const buf = Buffer.alloc(prog.length * 8);
  prog.forEach((p, i) => {
    buf.writeUInt16LE(p.code, i * 8);
    buf.writeUInt8(offset(i, p.jt), i * 8 + 2);
    buf.writeUInt8(offset(i, p.jf), i * 8 + 3);
    buf.writeUInt32LE(p.k >>> 0, i * 8 + 4);
  });
  return buf;
}
