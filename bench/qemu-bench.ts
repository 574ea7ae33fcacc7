// qemu benchmark (real VMs; TCG when KVM is not usable):
// - driver allocate → the guest's first Meta API request, beside the same guest started directly
//   with qemu-system (bench/qemu-raw.ts), alternating in one run: median ratio ≤ 1.15;
// - overlay creation (a VM's clone of its base image) for a 100 MiB and a 2 GiB base image:
//   within 1.5× of each other (a clone costs the same whatever the image size).
// Few iterations, every loop bounded in count and time.
import { randomBytes } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createOverlay } from '../src/drivers/qemu/disks.js';
import { QemuDriver } from '../src/drivers/qemu/driver.js';
import { FakeMeta, buildTestGuest, kernelDefinition, silentLog, tempDataDir, testContext } from '../src/drivers/qemu/test-support.js';
import type { BenchRow } from './lib/report.js';
import { timeRawBoot } from './qemu-raw.js';

const BOOT_ROUNDS = 5;
const OVERLAY_ROUNDS = 9;
const BOOT_TIMEOUT_MS = 120_000;
const BUDGET_MS = 8 * 60_000;

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** A raw base image of `bytes` filled with data (not sparse). */
async function writeBase(path: string, bytes: number): Promise<void> {
  const chunk = randomBytes(4 * 1024 * 1024);
  const fh = await open(path, 'w');
  try {
    for (let off = 0; off < bytes; off += chunk.length) await fh.write(chunk, 0, Math.min(chunk.length, bytes - off), off);
  } finally {
    await fh.close();
  }
}

async function overlayRows(dir: string): Promise<BenchRow[]> {
  const small = join(dir, 'base-100m.raw');
  const large = join(dir, 'base-2g.raw');
  await writeBase(small, 100 * 2 ** 20);
  await writeBase(large, 2 * 2 ** 30);
  const times = { small: [] as number[], large: [] as number[] };
  for (let i = 0; i < OVERLAY_ROUNDS; i++) {
    for (const [name, base] of [
      ['small', small],
      ['large', large],
    ] as const) {
      const overlay = join(dir, `overlay-${name}-${i}.qcow2`);
      const t0 = performance.now();
      await createOverlay('qemu-img', base, 'raw', overlay);
      times[name].push(performance.now() - t0);
      await rm(overlay, { force: true });
    }
  }
  const s = median(times.small);
  const l = median(times.large);
  const ratio = Math.max(s, l) / Math.min(s, l);
  return [
    {
      group: 'qemu',
      metric: 'VM overlay on a 2 GiB base (ms, median; raw = 100 MiB base)',
      value: l,
      baseline: s,
      target: 'within 1.5×',
      ok: ratio <= 1.5,
    },
  ];
}

export async function run(): Promise<BenchRow[]> {
  const started = Date.now();
  const guest = buildTestGuest();
  const dir = await tempDataDir('bench');
  const meta = new FakeMeta();
  const driver = new QemuDriver(testContext(join(dir, 'driver'), meta, silentLog));
  const rows: BenchRow[] = [];
  try {
    await driver.prepare(JSON.stringify({ shutdown_timeout_seconds: 10 }));
    const accel = (await driver.fingerprint()).attributes['qemu.accel'] === 'kvm' ? 'kvm' : 'tcg';
    const def = kernelDefinition(guest, { cpu: 1, ram: 1 });

    const driverBoot = async (): Promise<number> => {
      const t0 = performance.now();
      const r = await driver.allocate(def, { BENCH: 'yes' });
      meta.data.set(r.hwaddr, { BENCH: 'yes' });
      let t1 = 0;
      const served = meta.nextRequest(r.hwaddr, true).then(() => (t1 = performance.now()));
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          served,
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error('guest did not reach the Meta API')), BOOT_TIMEOUT_MS);
          }),
        ]);
      } finally {
        clearTimeout(timer);
        await driver.deallocate(r.hwaddr);
      }
      return t1 - t0;
    };
    const rawBoot = (i: number): Promise<number> => timeRawBoot({ guest, workDir: join(dir, `raw-${i}`), accel }, BOOT_TIMEOUT_MS);

    // warm-up (image cache fill, page cache), not counted
    await driverBoot();
    await rawBoot(-1);
    const viaDriver: number[] = [];
    const raw: number[] = [];
    for (let i = 0; i < BOOT_ROUNDS && Date.now() - started < BUDGET_MS; i++) {
      // alternate the order so drift on a shared machine hits both sides alike
      if (i % 2 === 0) {
        viaDriver.push(await driverBoot());
        raw.push(await rawBoot(i));
      } else {
        raw.push(await rawBoot(i));
        viaDriver.push(await driverBoot());
      }
    }
    const d = median(viaDriver);
    const r = median(raw);
    rows.push({
      group: 'qemu',
      metric: `allocate → guest read metadata (ms, median of ${viaDriver.length}, ${accel})`,
      value: d,
      baseline: r,
      target: 'ratio ≤ 1.15',
      ok: d / r <= 1.15,
    });
    rows.push(...(await overlayRows(dir)));
  } finally {
    for (const h of await driver.listResources().catch(() => [])) await driver.deallocate(h).catch(() => undefined);
    await driver.close();
    await rm(dir, { recursive: true, force: true });
  }
  return rows;
}
