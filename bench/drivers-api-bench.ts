// Allocation through Shoal — an API request to a real `shoal serve` process until the event stream
// says ALLOCATED (docker) or the guest has fetched its metadata (qemu) — beside the same container
// or VM started straight through the backend (Engine API create+start; qemu-system by hand), in one
// run, interleaved so both see the same machine load.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { connectEngine } from '../src/drivers/docker/engine.js';
import { buildTestImages } from '../src/drivers/docker/test-helpers/fixtures.js';
import { buildTestGuest, kernelDefinition } from '../src/drivers/qemu/test-support.js';
import type { Application, Resource } from '../src/model/index.js';
import { freePort } from '../test/helpers/free-port.js';
import { startNodeProcess, type NodeProcess } from '../test/helpers/node-process.js';
import { measureRaw, rawCreateStart, removeRaw, type RawOptions } from './docker-bench.js';
import { median, openSession, type Session } from './lib/api-session.js';
import { startRawGuest } from './qemu-raw.js';
import type { BenchRow } from './lib/report.js';

const DOCKER_SEQUENTIAL = 8;
const DOCKER_PARALLEL = 10;
const QEMU_PAIRS = 3;

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 100_000 && Date.now() < deadline; i++) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`);
}

async function release(s: Session, uids: string[]): Promise<void> {
  await Promise.all(uids.map((u) => s.request('POST', `/api/v1/applications/${u}/deallocate`).catch(() => undefined)));
  await Promise.all(uids.map((u) => s.waitFor(u, 'DEALLOCATED', 120_000).catch(() => undefined)));
}

async function dockerRows(): Promise<BenchRow[]> {
  const prefix = `bapi${randomBytes(3).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), `shoal-${prefix}-`));
  const docker = connectEngine('/var/run/docker.sock');
  let node: NodeProcess | undefined;
  let s: Session | undefined;
  const uids: string[] = [];
  const images: string[] = [];
  try {
    mkdirSync(join(dir, 'fixtures'));
    const imgs = await buildTestImages(docker, join(dir, 'fixtures'), prefix);
    images.push(...imgs.createdImages);
    node = await startNodeProcess({
      tls: true,
      config: {
        capacity: { cpu: 64, ram: 64 },
        drivers: { docker: { meta_port: await freePort(), stop_timeout: 1, cpu: 64, ram: 64 } },
        fetch: { allow_files: [join(dir, 'fixtures')] }, // the bench's image archive (only DATA_DIR/import by default)
      },
    });
    s = await openSession(node.apiUrl, node.token, node.ca);
    const imageName = `${prefix}-img:1`;
    await s.request('POST', '/api/v1/labels', {
      name: prefix,
      definitions: [
        {
          driver: 'docker',
          options: { image: imageName, images: [imgs.rootfs], command: ['sleep', '3600'] },
          requirements: { cpu: 1, ram: 1, network: '' },
        },
      ],
    });
    const session = s;
    const viaApi = async (): Promise<{ ms: number; uid: string }> => {
      const t0 = performance.now();
      const app = await session.request<Application>('POST', '/api/v1/applications', { label: prefix });
      uids.push(app.uid);
      await session.waitFor(app.uid, 'ALLOCATED', 120_000);
      return { ms: performance.now() - t0, uid: app.uid };
    };
    // warm-up: the image is loaded and the network made once, as for the raw side
    const warm = await viaApi();
    const res = await s.request<Resource>('GET', `/api/v1/applications/${warm.uid}/resource`);
    const [c] = await docker.listContainers({ filters: JSON.stringify({ label: [`shoal.resource=${res.hwaddr}`] }) });
    if (!c) throw new Error('the warm-up container is not in the daemon');
    const network = Object.keys(c.NetworkSettings.Networks)[0]!;
    const imageId = (await docker.getImage(imageName).inspect()).Id;
    images.push(imageId);
    const raw: RawOptions = { image: imageId, network, cpu: 1, ram: 1, command: ['sleep', '3600'], tag: prefix };
    await rawCreateStart(docker, raw);

    const shoalMs: number[] = [];
    const rawMs: number[] = [];
    for (let i = 0; i < DOCKER_SEQUENTIAL; i++) {
      if (i % 2 === 0) {
        shoalMs.push((await viaApi()).ms);
        rawMs.push(...(await measureRaw(docker, raw, 1, false)));
      } else {
        rawMs.push(...(await measureRaw(docker, raw, 1, false)));
        shoalMs.push((await viaApi()).ms);
      }
    }
    await release(s, uids.splice(0));
    await removeRaw(docker, prefix);

    const t0 = performance.now();
    await Promise.all(Array.from({ length: DOCKER_PARALLEL }, () => viaApi()));
    const shoalPar = performance.now() - t0;
    const [rawPar] = await measureRaw(docker, raw, DOCKER_PARALLEL, true);
    const p50 = median(shoalMs);
    const r50 = median(rawMs);
    return [
      {
        group: 'docker',
        metric: `API → ALLOCATED p50, ${DOCKER_SEQUENTIAL} sequential (ms)`,
        value: p50,
        baseline: r50,
        target: 'ratio ≤ 1.15',
        ok: p50 / r50 <= 1.15,
      },
      {
        group: 'docker',
        metric: `API: ${DOCKER_PARALLEL} parallel → all ALLOCATED, wall (ms)`,
        value: shoalPar,
        baseline: rawPar!,
        target: 'ratio ≤ 1.2',
        ok: shoalPar / rawPar! <= 1.2,
      },
    ];
  } finally {
    if (s) {
      await release(s, uids);
      s.close();
    }
    await node?.stop();
    await node?.cleanup();
    await removeRaw(docker, prefix).catch(() => undefined);
    for (const img of images)
      await docker
        .getImage(img)
        .remove({ force: true })
        .catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function qemuRows(): Promise<BenchRow[]> {
  const guest = buildTestGuest();
  const dir = mkdtempSync(join(tmpdir(), 'shoal-qemu-api-'));
  let node: NodeProcess | undefined;
  let s: Session | undefined;
  const uids: string[] = [];
  try {
    node = await startNodeProcess({
      tls: true,
      config: {
        capacity: { cpu: 8, ram: 8 },
        drivers: { qemu: { shutdown_timeout_seconds: 10, capacity: { cpu: 8, ram: 8 } } },
        fetch: { allow_files: [dirname(guest.kernel.path)] }, // the test guest's kernel and initrd
      },
    });
    s = await openSession(node.apiUrl, node.token, node.ca);
    const nodeInfo = await s.request<{ drivers: Array<{ instance: string; attributes: Record<string, string> }> }>(
      'GET',
      '/api/v1/nodes/this',
    );
    const accel = nodeInfo.drivers.find((d) => d.instance === 'qemu')?.attributes['qemu.accel'] === 'kvm' ? 'kvm' : 'tcg';
    const def = JSON.parse(kernelDefinition(guest, { cpu: 1, ram: 1 })) as { options: unknown; requirements: unknown };
    await s.request('POST', '/api/v1/labels', { name: 'bench-vm', definitions: [{ driver: 'qemu', ...(def as object) }] });
    const session = s;
    const viaApi = async (): Promise<number> => {
      const t0 = performance.now();
      const app = await session.request<Application>('POST', '/api/v1/applications', { label: 'bench-vm', metadata: { BENCH: 'yes' } });
      uids.push(app.uid);
      await until('guest fetched its metadata (API)', 120_000, async () => {
        const text = await session.text(`/api/v1/applications/${app.uid}/console`).catch(() => '');
        return text.includes('SHOAL-GUEST meta-ok') ? true : undefined;
      });
      const ms = performance.now() - t0;
      await release(session, uids.splice(0));
      return ms;
    };
    const direct = async (i: number): Promise<number> => {
      const work = join(dir, `raw-${i}`);
      const t0 = performance.now();
      const g = await startRawGuest({ guest, workDir: work, accel, cpu: 1, ramGb: 1, metadata: { BENCH: 'yes' } });
      try {
        await until('guest fetched its metadata (raw)', 120_000, async () => {
          const text = await readFile(join(work, 'console.log'), 'utf8').catch(() => '');
          return text.includes('SHOAL-GUEST meta-ok') ? true : undefined;
        });
        return performance.now() - t0;
      } finally {
        await g.stop();
      }
    };
    await viaApi(); // warm-up: image cache and overlay paths
    const shoalMs: number[] = [];
    const rawMs: number[] = [];
    for (let i = 0; i < QEMU_PAIRS; i++) {
      if (i % 2 === 0) {
        shoalMs.push(await viaApi());
        rawMs.push(await direct(i));
      } else {
        rawMs.push(await direct(i));
        shoalMs.push(await viaApi());
      }
    }
    const p50 = median(shoalMs);
    const r50 = median(rawMs);
    return [
      {
        group: 'qemu',
        metric: `API → guest fetched metadata p50, n=${QEMU_PAIRS} (ms, ${accel})`,
        value: p50,
        baseline: r50,
        target: 'ratio ≤ 1.15',
        ok: p50 / r50 <= 1.15,
      },
    ];
  } finally {
    if (s) {
      await release(s, uids);
      s.close();
    }
    await node?.stop();
    await node?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(): Promise<BenchRow[]> {
  return [...(await dockerRows()), ...(await qemuRows())];
}
