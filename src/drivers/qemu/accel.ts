/**
 * Choosing the accelerator: KVM only when it really runs guest code at hardware speed, else TCG.
 * `/dev/kvm` can exist and open while KVM is unusable (e.g. nested virtualisation that emulates
 * every memory access: measured here, a kernel did not get past its decompressor in 3 minutes).
 * The probe boots a 64 KiB firmware image that writes 128 MiB of memory in a loop and then exits
 * through the isa-debug-exit port; with working KVM it finishes in well under a second.
 */
import { constants } from 'node:fs';
import { access, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../shared/exec.js';

export interface AccelChoice {
  accel: 'kvm' | 'tcg';
  /** why: "kvm works", "no /dev/kvm", "kvm too slow (…)", "forced by config" */
  reason: string;
}

const EXIT_VALUE = 0x2a;
/** isa-debug-exit turns `out 0xf4, v` into exit status (v << 1) | 1 */
const EXPECTED_STATUS = (EXIT_VALUE << 1) | 1;
const PROBE_DEADLINE_MS = 4000;
const cache = new Map<string, Promise<{ ok: boolean; reason: string }>>();

/** The probe firmware: real-mode code at F000:E000, reached by a far jump at the reset vector. */
export function probeRom(loops = 2000): Buffer {
  const rom = Buffer.alloc(65536, 0xff);
  const code = Buffer.from([
    0xfa, // cli
    0xba,
    loops & 0xff,
    (loops >> 8) & 0xff, // mov dx, loops
    0xb8,
    0x00,
    0x10, // L1: mov ax, 0x1000
    0x8e,
    0xc0, // mov es, ax
    0x31,
    0xff, // xor di, di
    0xb9,
    0x00,
    0x80, // mov cx, 0x8000 (64 KiB as words)
    0xf3,
    0xab, // rep stosw
    0x4a, // dec dx
    0x75,
    0x100 - 15, // jnz L1
    0xb0,
    EXIT_VALUE, // mov al, 0x2a
    0xe6,
    0xf4, // out 0xf4, al
    0xf4, // hlt
    0xeb,
    0xfd, // jmp $-1
  ]);
  code.copy(rom, 0xe000);
  Buffer.from([0xea, 0x00, 0xe0, 0x00, 0xf0]).copy(rom, 0xfff0); // jmp far F000:E000
  return rom;
}

/**
 * Whether KVM runs the probe on this host: memoised per qemu binary in the process, and in a small
 * file under the temp dir keyed by the kernel's boot id and the binary's mtime (so it is probed
 * once per host boot, not once per process).
 */
export function kvmUsable(qemuSystem: string, workDir: string): Promise<{ ok: boolean; reason: string }> {
  let p = cache.get(qemuSystem);
  if (!p) {
    p = cachedProbe(qemuSystem, workDir);
    cache.set(qemuSystem, p);
  }
  return p;
}

async function cachedProbe(qemuSystem: string, workDir: string): Promise<{ ok: boolean; reason: string }> {
  let key: string | undefined;
  try {
    const bootId = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
    key = `${bootId} ${qemuSystem} ${(await stat(qemuSystem)).mtimeMs}`;
  } catch {
    key = undefined;
  }
  const file = join(tmpdir(), 'shoal-qemu-kvm-probe.json');
  if (key) {
    try {
      const saved = JSON.parse(await readFile(file, 'utf8')) as { key: string; ok: boolean; reason: string };
      if (saved.key === key && typeof saved.ok === 'boolean') return { ok: saved.ok, reason: `${saved.reason}, cached` };
    } catch {
      // no or bad cache: probe
    }
  }
  const result = await probeKvm(qemuSystem, workDir);
  if (key) {
    const tmp = `${file}.${process.pid}`;
    try {
      await writeFile(tmp, JSON.stringify({ key, ...result }));
      await rename(tmp, file);
    } catch {
      await rm(tmp, { force: true });
    }
  }
  return result;
}

async function probeKvm(qemuSystem: string, workDir: string): Promise<{ ok: boolean; reason: string }> {
  try {
    await access('/dev/kvm', constants.R_OK | constants.W_OK);
  } catch {
    return { ok: false, reason: 'no usable /dev/kvm' };
  }
  await mkdir(workDir, { recursive: true });
  const rom = join(workDir, `kvm-probe-${process.pid}.rom`);
  await writeFile(rom, probeRom());
  const started = Date.now();
  try {
    const r = await run(
      qemuSystem,
      [
        '-accel',
        'kvm',
        '-machine',
        'pc',
        '-m',
        '16',
        '-nodefaults',
        '-no-user-config',
        '-display',
        'none',
        '-bios',
        rom,
        '-device',
        'isa-debug-exit,iobase=0xf4,iosize=0x04',
      ],
      { timeoutMs: PROBE_DEADLINE_MS, allowFailure: true },
    );
    const ms = Date.now() - started;
    if (r.code !== EXPECTED_STATUS) return { ok: false, reason: `kvm probe failed (exit ${r.code}: ${r.stderr.trim().slice(0, 200)})` };
    return { ok: true, reason: `kvm works (probe ${ms} ms)` };
  } catch {
    return { ok: false, reason: `kvm is present but too slow (probe did not finish in ${PROBE_DEADLINE_MS} ms; nested virtualisation?)` };
  } finally {
    await rm(rom, { force: true });
  }
}

export async function chooseAccel(
  wanted: 'auto' | 'kvm' | 'tcg',
  qemuSystem: string,
  workDir: string,
): Promise<AccelChoice & { kvmReason: string }> {
  if (wanted === 'tcg') return { accel: 'tcg', reason: 'forced by config', kvmReason: 'not probed' };
  const kvm = await kvmUsable(qemuSystem, workDir);
  if (wanted === 'kvm') return { accel: 'kvm', reason: 'forced by config', kvmReason: kvm.reason };
  return kvm.ok ? { accel: 'kvm', reason: kvm.reason, kvmReason: kvm.reason } : { accel: 'tcg', reason: kvm.reason, kvmReason: kvm.reason };
}
