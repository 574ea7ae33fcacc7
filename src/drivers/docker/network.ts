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
 * listener on their gateway address.
 *
 * A network lives as long as the driver: created on first use (or found again by restore() at
 * prepare, which also removes what a network that no longer exists left behind), kept while the
 * node runs — an allocation never pays for a network, its firewall chains or its listener — and
 * removed by close() at a clean shutdown when no container uses it any more.
 */
export class NetworkManager {
  readonly #docker: Docker;
  readonly #config: DockerConfig;
  readonly #ctx: Ctx;
  readonly #firewall: Firewall;
  readonly #lock = new Mutex();
  readonly #ready = new Map<NetworkKind, NetInfo>();
  /** network name → its Meta API listener (and the gateway it listens on) */
  readonly #listeners = new Map<string, { gateway: string; close: () => Promise<void> }>();

  constructor(docker: Docker, config: DockerConfig, ctx: Ctx, firewall: Firewall) {
    this.#docker = docker;
    this.#config = config;
    this.#ctx = ctx;
    this.#firewall = firewall;
  }

  nameOf(kind: NetworkKind): string {
    return this.#config.networks[kind];
  }

  /** The network (with its rules and listener), created when it does not exist yet. */
  async acquire(kind: NetworkKind): Promise<NetInfo> {
    const known = this.#ready.get(kind);
    if (known) return known;
    return this.#lock.runExclusive(() => this.#ensure(kind));
  }

  /** Forget a network the daemon no longer has (removed behind the driver's back): the next acquire() makes it again. */
  invalidate(kind: NetworkKind): void {
    this.#ready.delete(kind);
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
    const listener = this.#listeners.get(name);
    if (listener && listener.gateway !== net.gateway) {
      // the network was made again with another gateway: listen there instead
      this.#listeners.delete(name);
      await listener
        .close()
        .catch((err: unknown) => this.#ctx.log.warn({ network: name, err: String(err) }, 'closing Meta API listener failed'));
    }
    if (!this.#listeners.has(name)) {
      try {
        this.#listeners.set(name, { gateway: net.gateway, close: await this.#ctx.meta.listen(net.gateway, this.#config.metaPort) });
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

  /**
   * Reconcile at prepare (node start): networks that exist get their rules refreshed and their Meta
   * API listener back; for those that do not, what an earlier run may have left (our chains,
   * Docker's rules naming the bridge, the bridge itself) is removed.
   */
  async restore(): Promise<void> {
    await this.#lock.runExclusive(async () => {
      for (const kind of ['hostonly', 'nat'] as const) {
        if (await this.#inspect(this.nameOf(kind))) await this.#ensure(kind);
        else await this.#removeLeftovers(this.nameOf(kind));
      }
    });
  }

  /** Chains, stale rules and the bridge of a network that does not exist (idempotent). */
  async #removeLeftovers(name: string): Promise<void> {
    const bridge = bridgeName(name);
    if (await this.#firewall.exists(name)) await this.#firewall.remove({ network: name, bridge });
    await this.#firewall.removeStale([bridge]);
    if (await pathExists(`/sys/class/net/${bridge}`)) {
      await runCommand('ip', ['link', 'delete', bridge]).catch((err: unknown) =>
        this.#ctx.log.warn({ bridge, err: String(err) }, 'cannot delete a stale bridge'),
      );
    }
  }

  /**
   * Node shutdown: close the Meta API listeners; remove each network no container uses (with its
   * rules). A network that still has containers stays, rules included: those containers outlive
   * the node process and the next prepare() takes them over.
   */
  async close(): Promise<void> {
    await this.#lock.runExclusive(async () => {
      for (const [name, l] of this.#listeners) {
        await l
          .close()
          .catch((err: unknown) => this.#ctx.log.warn({ network: name, err: String(err) }, 'closing Meta API listener failed'));
      }
      this.#listeners.clear();
      this.#ready.clear();
      for (const kind of ['hostonly', 'nat'] as const) {
        const name = this.nameOf(kind);
        try {
          await this.#removeIfUnused(name);
        } catch (err) {
          this.#ctx.log.warn({ network: name, err: (err as Error).message }, 'network not removed at shutdown');
        }
      }
    });
  }

  async #removeIfUnused(name: string): Promise<void> {
    const info = await this.#inspect(name).catch(() => undefined);
    if (!info) {
      await this.#removeLeftovers(name);
      return;
    }
    const users = await this.#docker.listContainers({ all: true, filters: JSON.stringify({ network: [name] }) });
    if (users.length > 0) return;
    await this.#firewall.remove({ network: name, bridge: info.bridge });
    try {
      await this.#docker.getNetwork(name).remove();
      this.#ctx.log.info({ network: name }, 'network removed');
    } catch (err) {
      if (!isNotFound(err)) throw backendError(`cannot remove network ${name}`, err);
    }
    // Docker 20.10 can leave its isolation rules (and the bridge) behind under concurrent network changes
    await this.#removeLeftovers(name);
  }
}
