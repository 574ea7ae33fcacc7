import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import type { DriverLogger } from '../../../contract/index.js';
import { DockerDriver } from '../driver.js';
import { connectEngine } from '../engine.js';
import { bridgeName, Firewall } from '../firewall.js';
import { listMounts, unmount } from '../../shared/mounts.js';
import { LABELS } from '../names.js';
import { runCommand } from '../../shared/run-command.js';
import { TEST_FETCH } from './fixtures.js';
import { TestMeta } from './test-meta.js';

export interface LogLine {
  level: string;
  obj: object;
  msg: string | undefined;
}

export type MemoryLog = DriverLogger & { lines: LogLine[]; text(): string };

export function memoryLog(echo = process.env.SHOAL_TEST_LOG === '1'): MemoryLog {
  const lines: LogLine[] = [];
  const at = (level: string) => (obj: object, msg?: string) => {
    lines.push({ level, obj, msg });
    if (echo) process.stderr.write(`[${level}] ${msg ?? ''} ${JSON.stringify(obj)}\n`);
  };
  return { lines, text: () => JSON.stringify(lines), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export interface Harness {
  prefix: string;
  instance: string;
  nodeName: string;
  dataDir: string;
  metaPort: number;
  configJson: string;
  docker: Docker;
  meta: TestMeta;
  log: MemoryLog;
  networks: { hostonly: string; nat: string };
  newDriver(): Promise<DockerDriver>;
}

/** A test-unique driver setup: its own instance name (so its own networks and labels) and data dir. */
export async function createHarness(name: string, extraConfig: Record<string, unknown> = {}): Promise<Harness> {
  const prefix = `t${name}${randomBytes(3).toString('hex')}`;
  const instance = `docker/${prefix}`;
  const dataDir = mkdtempSync(join(tmpdir(), `shoal-docker-${prefix}-`));
  const metaPort = await freePort();
  const configJson = JSON.stringify({ meta_port: metaPort, stop_timeout: 2, ...extraConfig });
  const meta = new TestMeta();
  const log = memoryLog();
  const nodeName = `node-${prefix}`;
  const newDriver = async (): Promise<DockerDriver> => {
    const d = new DockerDriver({ instance, nodeName, dataDir, log, meta, fetch: TEST_FETCH });
    await d.prepare(configJson);
    return d;
  };
  return {
    prefix,
    instance,
    nodeName,
    dataDir,
    metaPort,
    configJson,
    docker: connectEngine('/var/run/docker.sock'),
    meta,
    log,
    networks: { hostonly: `shoal-docker-${prefix}-hostonly`, nat: `shoal-docker-${prefix}-nat` },
    newDriver,
  };
}

/** Everything of this harness that exists outside the driver: must be empty after deallocate. */
export async function traces(h: Harness): Promise<string[]> {
  const out: string[] = [];
  const containers = await h.docker.listContainers({ all: true, filters: JSON.stringify({ label: [`${LABELS.instance}=${h.instance}`] }) });
  for (const c of containers) out.push(`container ${c.Names.join(',')} (${c.State})`);
  for (const n of await h.docker.listNetworks()) {
    if (n.Name === h.networks.hostonly || n.Name === h.networks.nat) out.push(`network ${n.Name}`);
  }
  for (const name of Object.values(h.networks)) {
    for (const rule of await Firewall.listRules({ network: name, bridge: bridgeName(name) })) out.push(`rule ${rule}`);
  }
  for (const name of Object.values(h.networks)) {
    if (existsSync(`/sys/class/net/${bridgeName(name)}`)) out.push(`bridge ${bridgeName(name)}`);
  }
  for (const m of await listMounts()) if (m.mountPoint.startsWith(h.dataDir)) out.push(`mount ${m.mountPoint}`);
  const { stdout } = await runCommand('losetup', ['-l', '-n', '-O', 'NAME,BACK-FILE']);
  for (const line of stdout.split('\n')) if (line.includes(h.dataDir)) out.push(`loop ${line.trim()}`);
  for (const d of ['workspaces/res']) {
    try {
      for (const f of readdirSync(join(h.dataDir, d))) out.push(`file ${d}/${f}`);
    } catch {
      // no folder: nothing left
    }
  }
  for (const l of h.meta.listening) out.push(`meta listener ${l}`);
  return out;
}

/**
 * What one resource may leave (container, mounts, loop devices, files): traces() without the
 * networks, their rules, bridges and Meta API listeners, which stay for the driver's lifetime
 * (close() removes them).
 */
export async function resourceTraces(h: Harness): Promise<string[]> {
  const perNode = ['network ', 'rule ', 'bridge ', 'meta listener '];
  return (await traces(h)).filter((t) => !perNode.some((p) => t.startsWith(p)));
}

/** Best-effort removal of everything this harness may have left (for after() hooks). */
export async function destroyHarness(h: Harness, images: string[] = []): Promise<void> {
  const containers = await h.docker
    .listContainers({ all: true, filters: JSON.stringify({ label: [`${LABELS.instance}=${h.instance}`] }) })
    .catch(() => []);
  for (const c of containers)
    await h.docker
      .getContainer(c.Id)
      .remove({ force: true, v: true })
      .catch(() => undefined);
  for (const name of Object.values(h.networks)) {
    await h.docker
      .getNetwork(name)
      .remove()
      .catch(() => undefined);
    await new Firewall(h.log).remove({ network: name, bridge: bridgeName(name) }).catch(() => undefined);
    await new Firewall(h.log).removeStale([bridgeName(name)]).catch(() => undefined);
  }
  const mounts = (await listMounts().catch(() => [])).filter((m) => m.mountPoint.startsWith(h.dataDir));
  for (const m of mounts.sort((a, b) => b.mountPoint.length - a.mountPoint.length)) await unmount(m.mountPoint).catch(() => undefined);
  const { stdout } = await runCommand('losetup', ['-l', '-n', '-O', 'NAME,BACK-FILE']).catch(() => ({ stdout: '' }));
  for (const line of stdout.split('\n')) {
    const [dev, file] = line.trim().split(/\s+/);
    if (dev && file?.startsWith(h.dataDir)) await runCommand('losetup', ['-d', dev]).catch(() => undefined);
  }
  for (const img of images)
    await h.docker
      .getImage(img)
      .remove({ force: true })
      .catch(() => undefined);
  await h.meta.closeAll();
  rmSync(h.dataDir, { recursive: true, force: true });
}

/** Run a command in a container through the Engine API; bounded by timeoutMs. */
export async function execIn(docker: Docker, container: string, cmd: string[], timeoutMs = 30_000): Promise<{ code: number; out: string }> {
  const exec = await docker.getContainer(container).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      stream.destroy();
      reject(new Error(`exec ${cmd.join(' ')} timed out`));
    }, timeoutMs);
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      clearTimeout(timer);
      resolve();
    });
    stream.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
  const { demuxLogs } = await import('../driver.js');
  const info = await exec.inspect();
  return { code: info.ExitCode ?? -1, out: demuxLogs(Buffer.concat(chunks)) };
}
