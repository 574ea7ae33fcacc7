// The docker hot path on an idle node: an API request to a real `shoal serve` process until the
// event stream says ALLOCATED, each allocation deallocated (DEALLOCATED) before the next one, so
// every one finds the node with no container at all — beside `docker run -d` (the CLI, the same
// image, the same limits, the same network) timed in the same run, interleaved, each raw container
// removed before the next. The node keeps its network and firewall chains for its lifetime, so an
// idle node does not pay for them per allocation.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { connectEngine } from '../src/drivers/docker/engine.js';
import { buildTestImages } from '../src/drivers/docker/test-helpers/fixtures.js';
import type { Application, Resource } from '../src/model/index.js';
import { freePort } from '../test/helpers/free-port.js';
import { startNodeProcess, type NodeProcess } from '../test/helpers/node-process.js';
import { median, openSession, type Session } from './lib/api-session.js';
import type { BenchRow } from './lib/report.js';

const run = promisify(execFile);
const SEQUENTIAL = Math.max(10, Number(process.env.BENCH_DOCKER_IDLE_N ?? 12));

export async function idleNodeRows(): Promise<BenchRow[]> {
  const prefix = `bidle${randomBytes(3).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), `shoal-${prefix}-`));
  const docker = connectEngine('/var/run/docker.sock');
  let node: NodeProcess | undefined;
  let s: Session | undefined;
  const open: string[] = [];
  const rawIds: string[] = [];
  const images: string[] = [];
  try {
    mkdirSync(join(dir, 'fixtures'));
    const imgs = await buildTestImages(docker, join(dir, 'fixtures'), prefix);
    images.push(...imgs.createdImages);
    node = await startNodeProcess({
      tls: true,
      config: {
        drivers: { docker: { meta_port: await freePort(), stop_timeout: 1, networks: { hostonly: `${prefix}-ho`, nat: `${prefix}-nat` } } },
        fetch: { allow_files: [join(dir, 'fixtures')] },
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
    /** one allocation on the idle node: API request → ALLOCATED; then given back (not timed) */
    const viaApi = async (): Promise<{ ms: number; hwaddr: string }> => {
      const t0 = performance.now();
      const app = await session.request<Application>('POST', '/api/v1/applications', { label: prefix });
      open.push(app.uid);
      await session.waitFor(app.uid, 'ALLOCATED', 120_000);
      const ms = performance.now() - t0;
      const res = await session.request<Resource>('GET', `/api/v1/applications/${app.uid}/resource`);
      await session.request('POST', `/api/v1/applications/${app.uid}/deallocate`);
      await session.waitFor(app.uid, 'DEALLOCATED', 120_000);
      open.splice(open.indexOf(app.uid), 1);
      return { ms, hwaddr: res.hwaddr };
    };
    // warm-up: loads the image (and makes the network, which the node keeps)
    await viaApi();
    const network = `${prefix}-ho`;
    await docker.getNetwork(network).inspect(); // the node's host-only network exists while it runs
    const imageId = (await docker.getImage(imageName).inspect()).Id;
    images.push(imageId);
    const cliArgs = [
      'run',
      '-d',
      '--init',
      '--cpus',
      '1',
      '--memory',
      '1g',
      '--memory-swap',
      '1g',
      '--pids-limit',
      '4096',
      '--cap-drop',
      'NET_RAW',
      '--network',
      network,
      '--label',
      `shoal.bench=${prefix}`,
      imageId,
      'sleep',
      '3600',
    ];
    const viaCli = async (): Promise<number> => {
      const t0 = performance.now();
      const { stdout } = await run('docker', cliArgs, { timeout: 120_000 });
      const ms = performance.now() - t0;
      const id = stdout.trim();
      rawIds.push(id);
      await run('docker', ['rm', '-f', id], { timeout: 120_000 });
      rawIds.splice(rawIds.indexOf(id), 1);
      return ms;
    };
    await viaCli(); // warm-up of the CLI side too
    const shoalMs: number[] = [];
    const rawMs: number[] = [];
    for (let i = 0; i < SEQUENTIAL; i++) {
      // alternate who goes first so neither always runs on a warmer daemon
      if (i % 2 === 0) {
        shoalMs.push((await viaApi()).ms);
        rawMs.push(await viaCli());
      } else {
        rawMs.push(await viaCli());
        shoalMs.push((await viaApi()).ms);
      }
    }
    const p50 = median(shoalMs);
    const r50 = median(rawMs);
    return [
      {
        group: 'docker',
        metric: `idle node: API → ALLOCATED p50, ${SEQUENTIAL} sequential vs docker run -d (ms)`,
        value: p50,
        baseline: r50,
        target: 'ratio ≤ 1.15',
        ok: p50 / r50 <= 1.15,
      },
    ];
  } finally {
    if (s) {
      for (const uid of open) await s.request('POST', `/api/v1/applications/${uid}/deallocate`).catch(() => undefined);
      for (const uid of open) await s.waitFor(uid, 'DEALLOCATED', 60_000).catch(() => undefined);
      s.close();
    }
    await node?.stop();
    await node?.cleanup();
    for (const id of rawIds) await run('docker', ['rm', '-f', id]).catch(() => undefined);
    for (const img of images)
      await docker
        .getImage(img)
        .remove({ force: true })
        .catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}
