// BENCH=access: the SSH gate against the raw backend, in one run on one container.
//  - `ssh -p GATE APP true` (OpenSSH through the gate, a new connection each time) vs
//    `docker exec CONTAINER true` (the docker CLI): median ratio ≤ 1.5
//  - bulk throughput of a port-forward (`ssh -L` through the gate to a sink in the container) vs a
//    direct connection from the node to the same sink: ≥ 50% of it
// Traffic goes to loopback and to the container only; every loop is bounded in count and time.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ShoalClient } from '../src/client/index.js';
import { connectEngine } from '../src/drivers/docker/engine.js';
import { buildTestImages } from '../src/drivers/docker/test-helpers/fixtures.js';
import { freePort } from '../test/helpers/free-port.js';
import { startNodeProcess } from '../test/helpers/node-process.js';
import { waitForState } from '../test/helpers/wait.js';
import type { BenchRow } from './lib/report.js';

const ROUNDS = 15;
const BULK_BYTES = 256 * 1024 * 1024;
const BULK_ROUNDS = 3;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function timed(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(cmd, args, { stdio: 'ignore' });
    const timer = setTimeout(() => p.kill('SIGKILL'), 30_000);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')} exited ${code}`));
      else resolve(performance.now() - t0);
    });
  });
}

/** Sends `bytes` to host:port, resolves to MB/s once the sink closed the connection (it counted all of it). */
function push(host: string, port: number, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const chunk = randomBytes(1024 * 1024);
    const s = connect(port, host);
    const timer = setTimeout(() => s.destroy(new Error('bulk transfer took longer than 120 s')), 120_000);
    let t0 = 0;
    let sent = 0;
    const write = (): void => {
      while (sent < bytes) {
        sent += chunk.length;
        if (!s.write(chunk)) return void s.once('drain', write);
      }
      s.end();
    };
    s.on('connect', () => {
      t0 = performance.now();
      write();
    });
    s.on('data', () => undefined);
    s.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve(bytes / 1e6 / ((performance.now() - t0) / 1000));
    });
  });
}

export async function run(): Promise<BenchRow[]> {
  const prefix = `ab${randomBytes(3).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), `shoal-bench-${prefix}-`));
  const docker = connectEngine('/var/run/docker.sock');
  mkdirSync(join(dir, 'fixtures'));
  const images = await buildTestImages(docker, join(dir, 'fixtures'), prefix);
  const node = await startNodeProcess({
    dataDir: join(dir, 'node'),
    name: `bench-${prefix}`,
    config: {
      capacity: { cpu: 4, ram: 4 },
      fetch: { allow_files: [join(dir, 'fixtures')] },
      drivers: { docker: { meta_port: await freePort(), stop_timeout: 1, cpu: 4, ram: 4 } },
    },
  });
  try {
    const admin = new ShoalClient({ url: node.apiUrl, token: node.token });
    const keyFile = join(dir, 'id');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', keyFile]);
    await admin.addUserKey('me', readFileSync(`${keyFile}.pub`, 'utf8'));
    const hostKey = readFileSync(join(dir, 'node', 'ssh', 'ssh_host_ed25519_key.pub'), 'utf8').split(' ');
    const knownHosts = join(dir, 'known_hosts');
    writeFileSync(knownHosts, `[127.0.0.1]:${node.sshPort} ${hostKey[0]} ${hostKey[1]}\n`);
    await admin.createLabel({
      name: 'box',
      definitions: [
        {
          driver: 'docker',
          options: { image: `${prefix}-img:1`, images: [images.rootfs], command: ['sleep', '3600'] },
          requirements: { cpu: 1, ram: 1, network: '' },
        },
      ],
    });
    const app = (await admin.createApplication({ label: 'box' })).uid;
    await waitForState(admin, app, ['ALLOCATED'], 120_000);
    const res = await admin.getResource(app);
    const [container] = await docker.listContainers({ filters: JSON.stringify({ label: [`shoal.application=${app}`] }) });
    if (!container) throw new Error('no container for the application');
    const ssh = (extra: string[]): string[] => [
      '-p',
      String(node.sshPort),
      '-i',
      keyFile,
      '-o',
      'IdentitiesOnly=yes',
      '-o',
      'BatchMode=yes',
      '-o',
      `UserKnownHostsFile=${knownHosts}`,
      '-o',
      'StrictHostKeyChecking=yes',
      ...extra,
      `${app}@127.0.0.1`,
    ];

    // exec: alternate so that both see the same machine load
    const gate: number[] = [];
    const raw: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      gate.push(await timed('ssh', [...ssh([]), 'true']));
      raw.push(await timed('docker', ['exec', container.Id, 'true']));
    }

    // bulk: a sink in the container that reads everything and closes (busybox nc, one connection each)
    const port = 9100;
    const sink = `printf '#!/bin/sh\\nexec cat > /dev/null\\n' > /tmp/sink.sh; chmod +x /tmp/sink.sh; nc -ll -p ${port} -e /tmp/sink.sh </dev/null >/dev/null 2>&1 &`;
    await timed('docker', ['exec', container.Id, 'sh', '-c', sink]);
    // the sink is up when a small push goes through (bounded)
    for (let i = 0; i < 50; i++) {
      if (
        await push(res.ipaddr, port, 1024 * 1024).then(
          () => true,
          () => false,
        )
      )
        break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const local = await freePort();
    const fwd = spawn('ssh', [...ssh(['-N', '-L', `127.0.0.1:${local}:localhost:${port}`, '-o', 'ExitOnForwardFailure=yes'])], {
      stdio: 'ignore',
    });
    const viaGate: number[] = [];
    const direct: number[] = [];
    try {
      await new Promise((r) => setTimeout(r, 1500));
      for (let i = 0; i < BULK_ROUNDS; i++) {
        direct.push(await push(res.ipaddr, port, BULK_BYTES));
        await new Promise((r) => setTimeout(r, 300));
        viaGate.push(await push('127.0.0.1', local, BULK_BYTES));
        await new Promise((r) => setTimeout(r, 300));
      }
    } finally {
      fwd.kill();
    }
    await admin.deallocate(app);
    await waitForState(admin, app, ['DEALLOCATED'], 60_000);

    const execRatio = median(gate) / median(raw);
    const bulkShare = median(viaGate) / median(direct);
    return [
      {
        group: 'access',
        metric: `ssh -p GATE APP true vs docker exec true, median of ${ROUNDS} (ms)`,
        value: median(gate),
        baseline: median(raw),
        target: 'ratio ≤ 1.5',
        ok: execRatio <= 1.5,
      },
      {
        group: 'access',
        metric: `port-forward bulk ${BULK_BYTES / 2 ** 20} MiB vs direct, median of ${BULK_ROUNDS} (MB/s)`,
        value: median(viaGate),
        baseline: median(direct),
        target: 'ratio ≥ 0.5',
        ok: bulkShare >= 0.5,
      },
    ];
  } finally {
    await node.kill();
    const left = await docker
      .listContainers({ all: true, filters: JSON.stringify({ label: [`shoal.node=bench-${prefix}`] }) })
      .catch(() => []);
    for (const c of left)
      await docker
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => undefined);
    for (const img of [...images.createdImages, `${prefix}-img:1`])
      await docker
        .getImage(img)
        .remove({ force: true })
        .catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}
