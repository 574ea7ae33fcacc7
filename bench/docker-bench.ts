// Docker driver benchmark: driver.allocate vs the raw Engine API (create + start of the same image
// with the same limits on the same network), measured side by side in one run, interleaved so both
// see the same machine load. `measureRaw` is the reusable raw baseline.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { DockerDriver } from '../src/drivers/docker/driver.js';
import { connectEngine } from '../src/drivers/docker/engine.js';
import { randomMac } from '../src/drivers/shared/mac.js';
import { buildTestImages, TEST_FETCH } from '../src/drivers/docker/test-helpers/fixtures.js';
import { freePort, memoryLog } from '../src/drivers/docker/test-helpers/harness.js';
import { TestMeta } from '../src/drivers/docker/test-helpers/test-meta.js';
import { idleNodeRows } from './docker-idle-bench.js';
import type { BenchRow } from './lib/report.js';

const GB = 1024 ** 3;
const BENCH_LABEL = 'shoal.bench';

export interface RawOptions {
  /** image id or name (must be present in the daemon) */
  image: string;
  /** docker network to attach to */
  network: string;
  cpu: number;
  ram: number;
  command: string[];
  /** label value marking these containers for removeRaw() */
  tag: string;
}

/** The Engine API body the raw baseline uses: the limits the docker driver sets, nothing Shoal-specific. */
export function rawSpec(o: RawOptions): Docker.ContainerCreateOptions {
  const mac = randomMac();
  return {
    Image: o.image,
    Cmd: o.command,
    Labels: { [BENCH_LABEL]: o.tag },
    MacAddress: mac,
    HostConfig: {
      NanoCpus: o.cpu * 1e9,
      Memory: o.ram * GB,
      MemorySwap: o.ram * GB,
      PidsLimit: 4096,
      Init: true,
      NetworkMode: o.network,
      CapDrop: ['NET_RAW'],
    },
    NetworkingConfig: { EndpointsConfig: { [o.network]: { MacAddress: mac } } },
  };
}

/** One raw create + start (+ inspect for the IP, as a caller would need it); resolves to milliseconds. */
export async function rawCreateStart(docker: Docker, o: RawOptions): Promise<number> {
  const t0 = performance.now();
  const c = await docker.createContainer(rawSpec(o));
  await c.start();
  await c.inspect();
  return performance.now() - t0;
}

/**
 * The raw backend baseline: `count` containers created and started through the Engine API,
 * one after another (`parallel: false`: per-container ms) or all at once (one wall-clock ms).
 * Call removeRaw(docker, o.tag) afterwards.
 */
export async function measureRaw(docker: Docker, o: RawOptions, count: number, parallel: boolean): Promise<number[]> {
  if (!parallel) {
    const out: number[] = [];
    for (let i = 0; i < count; i++) out.push(await rawCreateStart(docker, o));
    return out;
  }
  const t0 = performance.now();
  await Promise.all(Array.from({ length: count }, () => rawCreateStart(docker, o)));
  return [performance.now() - t0];
}

export async function removeRaw(docker: Docker, tag: string): Promise<void> {
  const list = await docker.listContainers({ all: true, filters: JSON.stringify({ label: [`${BENCH_LABEL}=${tag}`] }) });
  await Promise.all(
    list.map((c) =>
      docker
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => undefined),
    ),
  );
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const SEQUENTIAL = Number(process.env.BENCH_DOCKER_N ?? 12);
const PARALLEL = 10;

export async function run(): Promise<BenchRow[]> {
  const driverRows = await driverLevelRows();
  return [...driverRows, ...(await idleNodeRows())];
}

async function driverLevelRows(): Promise<BenchRow[]> {
  const prefix = `bench${randomBytes(3).toString('hex')}`;
  const instance = `docker/${prefix}`;
  const dataDir = mkdtempSync(join(tmpdir(), `shoal-docker-${prefix}-`));
  const docker = connectEngine('/var/run/docker.sock');
  const meta = new TestMeta();
  const driver = new DockerDriver({ instance, nodeName: `node-${prefix}`, dataDir, log: memoryLog(false), meta, fetch: TEST_FETCH });
  const live: string[] = [];
  const images: string[] = [];
  try {
    mkdirSync(join(dataDir, 'fixtures'));
    const imgs = await buildTestImages(docker, join(dataDir, 'fixtures'), prefix);
    images.push(...imgs.createdImages);
    await driver.prepare(JSON.stringify({ meta_port: await freePort(), stop_timeout: 1 }));
    const imageName = `${prefix}-img:1`;
    const def = (disks: Record<string, unknown> = {}): string =>
      JSON.stringify({
        options: { image: imageName, images: [imgs.rootfs], command: ['sleep', '3600'] },
        requirements: { cpu: 1, ram: 1, network: '', disks },
      });
    const alloc = async (d: string): Promise<number> => {
      const t0 = performance.now();
      const r = await driver.allocate(d, { BENCH: '1' }, { application: prefix, label: prefix, node: `node-${prefix}` });
      const ms = performance.now() - t0;
      live.push(r.hwaddr);
      return ms;
    };
    // warm-up: loads the image and creates the network (kept while a container uses it)
    await alloc(def());
    const imageId = (await docker.getImage(imageName).inspect()).Id;
    images.push(imageId);
    const raw: RawOptions = {
      image: imageId,
      network: `shoal-docker-${prefix}-hostonly`,
      cpu: 1,
      ram: 1,
      command: ['sleep', '3600'],
      tag: prefix,
    };
    await rawCreateStart(docker, raw);

    const shoalMs: number[] = [];
    const rawMs: number[] = [];
    for (let i = 0; i < SEQUENTIAL; i++) {
      // alternate who goes first so neither always runs on a warmer daemon
      if (i % 2 === 0) {
        shoalMs.push(await alloc(def()));
        rawMs.push(...(await measureRaw(docker, raw, 1, false)));
      } else {
        rawMs.push(...(await measureRaw(docker, raw, 1, false)));
        shoalMs.push(await alloc(def()));
      }
    }
    const diskMs: number[] = [];
    for (let i = 0; i < 3; i++) diskMs.push(await alloc(def({ ws: { type: 'ext4', size: 1 } })));

    const t0 = performance.now();
    await Promise.all(Array.from({ length: PARALLEL }, () => alloc(def())));
    const shoalPar = performance.now() - t0;
    const [rawPar] = await measureRaw(docker, raw, PARALLEL, true);

    const p50 = median(shoalMs);
    const r50 = median(rawMs);
    return [
      {
        group: 'docker',
        metric: `allocate p50, ${SEQUENTIAL} sequential (ms)`,
        value: p50,
        baseline: r50,
        target: 'ratio ≤ 1.15',
        ok: p50 / r50 <= 1.15,
      },
      {
        group: 'docker',
        metric: `${PARALLEL} parallel allocations, wall (ms)`,
        value: shoalPar,
        baseline: rawPar!,
        target: 'ratio ≤ 1.2',
        ok: shoalPar / rawPar! <= 1.2,
      },
      {
        group: 'docker',
        metric: 'allocate p50 with a 1 GB ext4 disk (ms)',
        value: median(diskMs),
        baseline: r50,
        target: 'info (mkfs + loop mount)',
        ok: true,
      },
    ];
  } finally {
    for (const hw of live) await driver.deallocate(hw).catch(() => undefined);
    await removeRaw(docker, prefix).catch(() => undefined);
    // the network is removed with the driver's last container, unless raw containers still held it
    await driver.deallocate(randomMac()).catch(() => undefined);
    await driver.close();
    for (const id of images)
      await docker
        .getImage(id)
        .remove({ force: true })
        .catch(() => undefined);
    await meta.closeAll();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
