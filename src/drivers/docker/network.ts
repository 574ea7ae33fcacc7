import type Docker from 'dockerode';
import { DriverError, type DriverContext } from '../../contract/index.js';
import type { DockerConfig } from './config.js';
import type { NetworkKind } from './definition.js';
import { backendError, isConflict, isNotFound } from './engine.js';
import { bridgeName, Firewall } from './firewall.js';
import { Mutex } from '../../lib/locks.js';
import { LABELS } from './names.js';
import { runCommand } from '../shared/run-command.js';
import { pathExists } from '../../lib/fs.js';

/** A network a container is attached to, ready for use (rules and Meta API listener in place). */
export interface NetInfo {
  kind: NetworkKind;
  name: string;
  bridge: string;
  gateway: string;
  subnet: string;
  /** base URL of the Meta API as seen from the network (SHOAL_META_URL) */
  metaUrl: string;
}

type Ctx = Pick<DriverContext, 'meta' | 'log' | 'instance' | 'nodeName'>;

/**
 * Shoal-owned docker networks of one driver instance: `hostonly` (internal bridge, firewalled so
 * only the Meta API on the gateway is reachable) and `nat` (a normal bridge whose containers reach
 * the outside but, on the host itself, only the Meta API on the gateway). Both get a Meta API
 * listener on their gateway address. A network is created on first use and removed when no
 * container and no allocation in progress uses it.
 */
export class NetworkManager {
  readonly #docker: Docker;
  readonly #config: DockerConfig;
  readonly #ctx: Ctx;
  readonly #firewall: Firewall;
  readonly #lock = new Mutex();
  readonly #users = new Map<NetworkKind, number>();
  readonly #ready = new Map<NetworkKind, NetInfo>();
  readonly #listeners = new Map<string, () => Promise<void>>();

  constructor(docker: Docker, config: DockerConfig, ctx: Ctx, firewall: Firewall) {
    this.#docker = docker;
    this.#config = config;
    this.#ctx = ctx;
    this.#firewall = firewall;
  }

  nameOf(kind: NetworkKind): string {
    return this.#config.networks[kind];
  }

  /** Ensure the network (and its rules and listener) and count one user until release(). */
  async acquire(kind: NetworkKind): Promise<NetInfo> {
    this.#users.set(kind, (this.#users.get(kind) ?? 0) + 1);
    const known = this.#ready.get(kind);
    if (known) return known;
    try {
      return await this.#lock.runExclusive(() => this.#ensure(kind));
    } catch (err) {
      this.release(kind);
      throw err;
    }
  }

  release(kind: NetworkKind): void {
    this.#users.set(kind, Math.max(0, (this.#users.get(kind) ?? 0) - 1));
  }

  async #ensure(kind: NetworkKind): Promise<NetInfo> {
    const known = this.#ready.get(kind);
    if (known) return known;
    const name = this.nameOf(kind);
    let info = await this.#inspect(name);
    if (!info) {
      try {
        await this.#docker.createNetwork({
          Name: name,
          Driver: 'bridge',
          CheckDuplicate: true,
          Internal: kind === 'hostonly',
          Options: {
            'com.docker.network.bridge.name': bridgeName(name),
            'com.docker.network.bridge.enable_icc': 'false',
          },
          Labels: { [LABELS.node]: this.#ctx.nodeName, [LABELS.instance]: this.#ctx.instance, [LABELS.network]: kind },
        });
        this.#ctx.log.info({ network: name, kind }, 'network created');
      } catch (err) {
        if (!isConflict(err)) throw backendError(`cannot create network ${name}`, err);
      }
      info = await this.#inspect(name);
      if (!info) throw new DriverError('BACKEND', `network ${name} vanished right after it was created`);
    }
    const net = { ...info, kind };
    const rules = { network: name, bridge: net.bridge, gateway: net.gateway, metaPort: this.#config.metaPort };
    if (kind === 'hostonly') await this.#firewall.protectHostOnly(rules);
    else await this.#firewall.protectNat(rules);
    if (!this.#listeners.has(name)) {
      try {
        this.#listeners.set(name, await this.#ctx.meta.listen(net.gateway, this.#config.metaPort));
      } catch (err) {
        throw new DriverError(
          'BACKEND',
          `cannot open the Meta API listener on ${net.gateway}:${this.#config.metaPort} for network ${name}` +
            ` (is the port taken? set meta_port): ${(err as Error).message}`,
          { cause: err },
        );
      }
    }
    this.#ready.set(kind, net);
    return net;
  }

  async #inspect(name: string): Promise<Omit<NetInfo, 'kind'> | undefined> {
    let raw: Docker.NetworkInspectInfo;
    try {
      raw = await this.#docker.getNetwork(name).inspect();
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw backendError(`cannot inspect network ${name}`, err);
    }
    const ipam = raw.IPAM?.Config?.find((c) => c.Subnet && !c.Subnet.includes(':'));
    if (!ipam?.Gateway || !ipam.Subnet) throw new DriverError('BACKEND', `network ${name} has no IPv4 gateway`);
    const bridge = raw.Options?.['com.docker.network.bridge.name'] ?? bridgeName(name);
    const port = this.#config.metaPort;
    return { name, bridge, gateway: ipam.Gateway, subnet: ipam.Subnet, metaUrl: `http://${ipam.Gateway}:${port}` };
  }

  /** Reopen listeners and refresh rules for networks that already exist (node restart). */
  async restore(): Promise<void> {
    for (const kind of ['hostonly', 'nat'] as const) {
      const exists = await this.#inspect(this.nameOf(kind));
      if (exists) await this.#lock.runExclusive(() => this.#ensure(kind));
    }
  }

  /** Remove networks (with their rules and listeners) that no container and no allocation uses. */
  async collect(): Promise<void> {
    await this.#lock.runExclusive(async () => {
      const vanished: string[] = [];
      for (const kind of ['hostonly', 'nat'] as const) {
        if ((this.#users.get(kind) ?? 0) > 0) continue;
        const name = this.nameOf(kind);
        const info = await this.#inspect(name);
        if (info) {
          const users = await this.#docker.listContainers({ all: true, filters: JSON.stringify({ network: [name] }) });
          if (users.length > 0) continue;
        }
        // an allocation may have started while we looked: keep the network for it
        if ((this.#users.get(kind) ?? 0) > 0) continue;
        this.#ready.delete(kind);
        const close = this.#listeners.get(name);
        this.#listeners.delete(name);
        if (close)
          await close().catch((err: unknown) =>
            this.#ctx.log.warn({ network: name, err: String(err) }, 'closing Meta API listener failed'),
          );
        if (info || (await this.#firewall.exists(name))) {
          await this.#firewall.remove({ network: name, bridge: info?.bridge ?? bridgeName(name) });
        }
        if (info) {
          try {
            await this.#docker.getNetwork(name).remove();
            this.#ctx.log.info({ network: name }, 'network removed');
            // Docker 20.10 can leave its isolation rules behind under concurrent network changes
            vanished.push(info.bridge);
          } catch (err) {
            if (!isNotFound(err)) this.#ctx.log.warn({ network: name, err: String(err) }, 'network not removed (still in use?)');
          }
        } else {
          vanished.push(bridgeName(name));
        }
      }
      // what an interrupted network create or remove may have left: Docker's rules and the bridge itself
      if (vanished.length > 0) {
        await this.#firewall.removeStale(vanished);
        for (const bridge of vanished) {
          if (await pathExists(`/sys/class/net/${bridge}`)) {
            await runCommand('ip', ['link', 'delete', bridge]).catch((err: unknown) =>
              this.#ctx.log.warn({ bridge, err: String(err) }, 'cannot delete a stale bridge'),
            );
          }
        }
      }
    });
  }

  /** Close the Meta API listeners (node shutdown; networks and containers stay). */
  async close(): Promise<void> {
    await this.#lock.runExclusive(async () => {
      for (const [name, close] of this.#listeners) {
        await close().catch((err: unknown) => this.#ctx.log.warn({ network: name, err: String(err) }, 'closing Meta API listener failed'));
      }
      this.#listeners.clear();
      this.#ready.clear();
    });
  }
}
