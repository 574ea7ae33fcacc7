import { randomBytes } from 'node:crypto';
import { access, mkdir } from 'node:fs/promises';
import type Docker from 'dockerode';
import {
  DriverError,
  invalidDefinition,
  StatusAllocated,
  StatusNone,
  type AllocateContext,
  type AllocateResult,
  type DriverCapacity,
  type DriverContext,
  type Fingerprint,
  type ResourceDriver,
  type ResourceStatus,
  type StoredItem,
} from '../../contract/index.js';
import { cancelledError, ImageCache, reuseScope, UrlPolicy } from '../shared/index.js';
import { parseDockerConfig, type DockerConfig } from './config.js';
import { DockerAccess } from './access.js';
import { containerSpec } from './container-spec.js';
import { definitionUrls, parseDockerDefinition } from './definition.js';
import { DiskManager, GB } from './disks.js';
import { backendError, connectEngine, engineMessage, isNotFound, isNotModified, pingSocket, withTimeout } from './engine.js';
import { Firewall } from './firewall.js';
import { ImageStore, type ResolvedImage } from './images.js';
import { ImagePuller } from './pulls.js';
import { ImageRecords } from './image-records.js';
import { KeptDisks } from './kept-disks.js';
import { Semaphore } from '../../lib/locks.js';
import { isMac, randomMac } from '../shared/mac.js';
import { containerName, LABELS } from './names.js';
import { NetworkManager, type NetInfo } from './network.js';
import { commitSnapshot } from './snapshot.js';

const PING_TIMEOUT_MS = 5_000;

interface Prepared {
  config: DockerConfig;
  docker: Docker;
  apiVersion: string;
  ncpu: number;
  memTotal: number;
  images: ImageStore;
  networks: NetworkManager;
  disks: DiskManager;
  kept: KeptDisks;
  starts: Semaphore;
}

/** Ask the daemon for its version within a few seconds; a clear BACKEND error when it does not answer. */
async function reach(docker: Docker, socket: string): Promise<Docker.DockerVersion> {
  try {
    await access(socket);
  } catch {
    throw new DriverError('BACKEND', `no Docker daemon: the socket ${socket} does not exist (start dockerd, or set "socket")`);
  }
  try {
    await pingSocket(socket, PING_TIMEOUT_MS);
    return await withTimeout(docker.version(), PING_TIMEOUT_MS, `Docker daemon at ${socket}`);
  } catch (err) {
    if (err instanceof DriverError) throw err;
    throw new DriverError('BACKEND', `Docker daemon at ${socket} does not answer: ${engineMessage(err)}`, { cause: err });
  }
}

/**
 * The docker driver: real containers from the Docker Engine API (dockerode over the unix socket).
 * hwaddr = the container's MAC (random, locally administered); the container is named
 * `shoal-<instance>-<mac hex>` and labelled shoal.resource/node/instance/application/label.
 */
export class DockerDriver implements ResourceDriver {
  readonly #ctx: DriverContext;
  /** what image URLs may reach (the node's fetch config; the safe default without one) */
  readonly #urls: UrlPolicy;
  #p: Prepared | undefined;
  /** the socket of the last prepare() attempt (fingerprint reports on it) */
  #socket = '/var/run/docker.sock';

  /** exec, ports and files of the containers (the Engine's exec and archive APIs) */
  readonly access: DockerAccess;

  constructor(ctx: DriverContext) {
    this.#ctx = ctx;
    this.#urls = new UrlPolicy(ctx.fetch);
    this.access = new DockerAccess(
      () => this.#state().docker,
      async (hwaddr) => (isMac(hwaddr) ? this.#inspect(this.#state(), hwaddr) : undefined),
    );
  }

  name(): string {
    return 'docker';
  }

  #state(): Prepared {
    if (!this.#p) throw new DriverError('BACKEND', 'the docker driver is not prepared (prepare(config) was not called or failed)');
    return this.#p;
  }

  async prepare(configJson: string): Promise<void> {
    const config = parseDockerConfig(configJson, this.#ctx.dataDir, this.#ctx.instance);
    this.#socket = config.socket;
    if (this.#p) {
      await this.#p.networks.close();
      this.#p = undefined;
    }
    const docker = connectEngine(config.socket);
    const version = await reach(docker, config.socket);
    const info = (await docker.info().catch((err: unknown) => {
      throw backendError('docker info failed', err);
    })) as { NCPU?: number; MemTotal?: number };
    for (const dir of [config.imagesDir, config.workspaceDir, config.snapshotsDir]) {
      await mkdir(dir, { recursive: true, mode: 0o700 }).catch((err: unknown) => {
        throw new DriverError('INVALID_CONFIG', `cannot create ${dir}: ${(err as Error).message}`, { cause: err });
      });
    }
    const log = this.#ctx.log;
    const firewall = new Firewall(log);
    const networks = new NetworkManager(docker, config, this.#ctx, firewall);
    this.#p = {
      config,
      docker,
      apiVersion: version.ApiVersion,
      ncpu: info.NCPU ?? 1,
      memTotal: info.MemTotal ?? 0,
      images: new ImageStore(
        docker,
        new ImageCache({ dir: config.imagesDir, log, policy: this.#urls }),
        log,
        new ImagePuller(docker, config.registries, log),
        config.registries,
        new ImageRecords(config.imagesDir),
        config.imageCacheMaxBytes,
      ),
      networks,
      disks: new DiskManager(config.workspaceDir, config.snapshotsDir, log, config.diskLimits),
      kept: new KeptDisks(docker, config.workspaceDir, config.snapshotsDir, log),
      starts: new Semaphore(config.maxParallelStarts),
    };
    // networks left by a previous run get their rules and Meta API listeners back
    await networks.restore();
    log.info({ socket: config.socket, api: version.ApiVersion, version: version.Version }, 'docker driver ready');
  }

  async validateDefinition(definition: string): Promise<void> {
    const def = parseDockerDefinition(definition);
    for (const { field, url } of definitionUrls(def.options)) await this.#urls.checkForLabel(url, field);
    // a registry the node does not allow is refused now (allocate checks again)
    this.#p?.images.checkRegistry(def.options);
    // disks that could never fit this node's workspace file system (or max_disk_size) are refused now
    if (this.#p && def.disks.length > 0)
      await this.#p.disks.space.checkDefinition(await this.#p.disks.requests(def.disks, { owner: '', label: '' }));
  }

  async allocate(definition: string, metadata: Record<string, unknown>, context?: AllocateContext): Promise<AllocateResult> {
    const def = parseDockerDefinition(definition);
    const s = this.#state();
    if (def.requirements.cpu > s.ncpu) {
      throw new DriverError('NO_CAPACITY', `requirements.cpu ${def.requirements.cpu} is more than this host's ${s.ncpu} CPUs`);
    }
    const image = await s.images.resolve(def.options, context?.signal, context?.progress);
    try {
      return await this.#allocateWith(s, def, image, metadata, context);
    } finally {
      // the container exists now (it holds the image) or never will
      s.images.unpin(image.id);
    }
  }

  async #allocateWith(
    s: Prepared,
    def: ReturnType<typeof parseDockerDefinition>,
    image: ResolvedImage,
    metadata: Record<string, unknown>,
    context: AllocateContext | undefined,
  ): Promise<AllocateResult> {
    if (context?.signal?.aborted) throw cancelledError('allocation', context.signal);
    if (!image.hasCommand && !def.options.command && !def.options.entrypoint) {
      throw invalidDefinition('options.command', `image ${def.options.image} has no default command: set options.command`);
    }
    const hwaddr = randomMac();
    const log = this.#ctx.log;
    const started = Date.now();
    await s.disks.begin({
      hwaddr,
      created: new Date().toISOString(),
      application: context?.application ?? '',
      label: context?.label ?? '',
    });
    try {
      const disks = await s.disks.attach(hwaddr, def.disks, { owner: reuseScope(context), label: context?.label ?? '' });
      const specFor = (net: NetInfo): Docker.ContainerCreateOptions =>
        containerSpec({
          def,
          image,
          hwaddr,
          net,
          disks,
          metadata,
          instance: this.#ctx.instance,
          nodeName: this.#ctx.nodeName,
          application: context?.application ?? '',
          label: context?.label ?? '',
          pidsLimit: s.config.pidsLimit,
        });
      let net = await s.networks.acquire(def.network);
      const ipaddr = await s.starts.runExclusive(async () => {
        let container: Docker.Container;
        try {
          container = await s.docker.createContainer(specFor(net));
        } catch (err) {
          if (!isNotFound(err)) throw backendError('cannot create the container', err);
          if (!/network/i.test(engineMessage(err))) {
            s.images.forget();
            throw backendError('cannot create the container', err);
          }
          // the network was removed behind the driver's back: make it again, once
          s.networks.invalidate(def.network);
          net = await s.networks.acquire(def.network);
          container = await s.docker.createContainer(specFor(net)).catch((again: unknown) => {
            throw backendError('cannot create the container', again);
          });
        }
        await container.start().catch((err: unknown) => {
          throw backendError('cannot start the container', err);
        });
        const info = await container.inspect();
        const ep = info.NetworkSettings.Networks[net.name];
        if (!ep?.IPAddress) throw new DriverError('BACKEND', `container has no address on network ${net.name}`);
        if (ep.MacAddress.toLowerCase() !== hwaddr) {
          throw new DriverError('BACKEND', `the daemon gave MAC ${ep.MacAddress}, not ${hwaddr} (Engine API ${s.apiVersion})`);
        }
        return ep.IPAddress;
      });
      log.info({ hwaddr, ipaddr, image: def.options.image, ms: Date.now() - started }, 'container allocated');
      return { hwaddr, ipaddr };
    } catch (err) {
      log.warn({ hwaddr, err: (err as Error).message }, 'allocation failed; removing what was created');
      await this.#remove(s, hwaddr).catch((cleanupErr: unknown) =>
        log.error({ hwaddr, err: String(cleanupErr) }, 'cleanup after a failed allocation failed'),
      );
      if (err instanceof DriverError) throw err;
      throw new DriverError('BACKEND', `allocation failed: ${(err as Error).message}`, { cause: err });
    }
  }

  async #inspect(s: Prepared, hwaddr: string): Promise<Docker.ContainerInspectInfo | undefined> {
    try {
      const info = await s.docker.getContainer(containerName(this.#ctx.instance, hwaddr)).inspect();
      return info.Config.Labels?.[LABELS.resource] === hwaddr ? info : undefined;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw backendError(`cannot inspect the container of ${hwaddr}`, err);
    }
  }

  async status(hwaddr: string): Promise<ResourceStatus> {
    const s = this.#state();
    if (!isMac(hwaddr)) return StatusNone;
    const info = await this.#inspect(s, hwaddr);
    if (!info) return StatusNone;
    const st = info.State;
    return st.Running || st.Paused || st.Restarting ? StatusAllocated : StatusNone;
  }

  async snapshot(hwaddr: string, full: boolean): Promise<string> {
    const s = this.#state();
    const info = isMac(hwaddr) ? await this.#inspect(s, hwaddr) : undefined;
    if (!info) throw new DriverError('NOT_FOUND', `no docker resource ${hwaddr} on this node`);
    const id = `s-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
    let image = '';
    try {
      if (full) image = await commitSnapshot(s.docker, info, id);
      const copies = await s.disks.snapshotDisks(hwaddr, id);
      const disks = Object.fromEntries(Object.entries(copies).map(([name, c]) => [name, { ...c, clone: `${id}/${name}` }]));
      await s.disks.writeSnapshotRecord(id, { id, hwaddr, created: new Date().toISOString(), image, disks });
      this.#ctx.log.info({ hwaddr, snapshot: id, full, image, disks: Object.keys(disks) }, 'snapshot taken');
      return JSON.stringify({
        id,
        image,
        disks: Object.fromEntries(Object.keys(disks).map((n) => [n, `${id}/${n}`])),
        paths: Object.fromEntries(Object.entries(disks).map(([n, d]) => [n, d.path])),
      });
    } catch (err) {
      await s.disks.removeSnapshot(id).catch(() => undefined);
      if (image)
        await s.docker
          .getImage(image)
          .remove({ force: true })
          .catch(() => undefined);
      if (err instanceof DriverError) throw err;
      throw new DriverError('BACKEND', `snapshot failed: ${(err as Error).message}`, { cause: err });
    }
  }

  async deallocate(hwaddr: string): Promise<void> {
    const s = this.#state();
    if (!isMac(hwaddr)) return;
    await this.#remove(s, hwaddr);
    this.#ctx.log.info({ hwaddr }, 'container deallocated');
  }

  /** Remove every trace of a resource (idempotent): container, disks, locks (the networks stay for the next one). */
  async #remove(s: Prepared, hwaddr: string): Promise<void> {
    const container = s.docker.getContainer(containerName(this.#ctx.instance, hwaddr));
    try {
      await container.stop({ t: s.config.stopTimeout });
    } catch (err) {
      if (!isNotFound(err) && !isNotModified(err)) this.#ctx.log.warn({ hwaddr, err: engineMessage(err) }, 'graceful stop failed; forcing');
    }
    try {
      await container.remove({ force: true, v: true });
    } catch (err) {
      if (!isNotFound(err) && !/already in progress/.test(engineMessage(err)))
        throw backendError(`cannot remove the container of ${hwaddr}`, err);
    }
    await s.disks.cleanup(hwaddr);
  }

  async capacity(): Promise<DriverCapacity> {
    const s = this.#state();
    return { cpu: s.config.cpu ?? s.ncpu, ram: s.config.ram ?? Math.max(1, Math.floor(s.memTotal / GB)) };
  }

  async listResources(): Promise<string[]> {
    const s = this.#state();
    const filters = JSON.stringify({ label: [`${LABELS.node}=${this.#ctx.nodeName}`, `${LABELS.instance}=${this.#ctx.instance}`] });
    let list: Docker.ContainerInfo[];
    try {
      list = await s.docker.listContainers({ all: true, filters });
    } catch (err) {
      throw backendError('cannot list containers', err);
    }
    const found = new Set<string>();
    for (const c of list) {
      const mac = c.Labels?.[LABELS.resource];
      if (mac && isMac(mac)) found.add(mac);
    }
    for (const mac of await s.disks.listResources()) found.add(mac);
    return [...found];
  }

  async fingerprint(): Promise<Fingerprint> {
    const socket = this.#socket;
    try {
      await access(socket);
    } catch {
      return { health: 'undetected', description: `no Docker socket at ${socket}`, attributes: {} };
    }
    try {
      const docker = this.#p && this.#p.config.socket === socket ? this.#p.docker : connectEngine(socket);
      const v = await reach(docker, socket);
      return {
        health: this.#p ? 'healthy' : 'unhealthy',
        description: this.#p ? `Docker ${v.Version} (Engine API ${v.ApiVersion})` : 'Docker answers but the driver is not prepared',
        attributes: {
          'docker.version': v.Version,
          'docker.api': v.ApiVersion,
          'docker.os': v.Os,
          'docker.arch': v.Arch,
          'docker.kernel': v.KernelVersion ?? '',
          ...(this.#p
            ? {
                'docker.cpus': String(this.#p.ncpu),
                'docker.networks': `${this.#p.config.networks.hostonly},${this.#p.config.networks.nat}`,
              }
            : {}),
        },
      };
    } catch (err) {
      return { health: 'unhealthy', description: (err as Error).message, attributes: {} };
    }
  }

  async console(hwaddr: string): Promise<string> {
    const s = this.#state();
    const info = isMac(hwaddr) ? await this.#inspect(s, hwaddr) : undefined;
    if (!info) throw new DriverError('NOT_FOUND', `no docker resource ${hwaddr} on this node`);
    const buf = await s.docker.getContainer(info.Id).logs({ stdout: true, stderr: true, tail: 2000, follow: false });
    return demuxLogs(buf);
  }

  async close(): Promise<void> {
    if (this.#p) await this.#p.networks.close();
  }

  async listImages(): Promise<StoredItem[]> {
    return this.#state().images.list();
  }

  async removeImage(id: string): Promise<void> {
    await this.#state().images.remove(id);
  }

  async listDisks(): Promise<StoredItem[]> {
    return this.#state().kept.list();
  }

  async removeDisk(id: string): Promise<void> {
    await this.#state().kept.remove(id);
  }
}

/** Docker multiplexes stdout/stderr of non-tty containers in 8-byte-headed frames. */
export function demuxLogs(buf: Buffer): string {
  const parts: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length && buf[i]! <= 2 && buf[i + 1] === 0 && buf[i + 2] === 0 && buf[i + 3] === 0) {
    const len = buf.readUInt32BE(i + 4);
    parts.push(buf.subarray(i + 8, i + 8 + len));
    i += 8 + len;
  }
  if (i === 0) return buf.toString('utf8');
  return Buffer.concat(parts).toString('utf8');
}
