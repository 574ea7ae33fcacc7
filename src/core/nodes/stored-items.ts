import { DriverError, type ResourceDriver } from '../../contract/index.js';
import type { StoredItem } from '../../model/index.js';
import type { DriverInstance } from '../core-options.js';
import { CoreError } from '../errors.js';

/** Which store of the drivers: cached images, or kept disks and snapshots. */
export type StoredKind = 'images' | 'disks';

type Lister = (
  d: ResourceDriver,
) => (() => Promise<Array<Omit<StoredItem, 'driver' | 'last_used' | 'in_use'> & { lastUsed: string; inUse: boolean }>>) | undefined;
type Remover = (d: ResourceDriver) => ((id: string) => Promise<void>) | undefined;

const LIST: Record<StoredKind, Lister> = {
  images: (d) => d.listImages?.bind(d),
  disks: (d) => d.listDisks?.bind(d),
};
const REMOVE: Record<StoredKind, Remover> = {
  images: (d) => d.removeImage?.bind(d),
  disks: (d) => d.removeDisk?.bind(d),
};

function fromDriver(instance: string, what: string, err: unknown): Error {
  if (err instanceof DriverError) {
    if (err.code === 'IN_USE') return new CoreError('CONFLICT', err.message);
    if (err.code === 'NOT_FOUND') return new CoreError('NOT_FOUND', err.message);
    return new CoreError('UNAVAILABLE', `driver ${instance} cannot ${what}: ${err.code}: ${err.message}`);
  }
  return new CoreError('UNAVAILABLE', `driver ${instance} cannot ${what}: ${(err as Error).message}`);
}

/**
 * What the enabled driver instances of this node keep between resources (the optional driver
 * methods listImages/removeImage/listDisks/removeDisk), for admins.
 */
export class StoredItems {
  readonly #drivers: ReadonlyMap<string, DriverInstance>;

  constructor(drivers: ReadonlyMap<string, DriverInstance>) {
    this.#drivers = drivers;
  }

  async list(kind: StoredKind): Promise<StoredItem[]> {
    const out: StoredItem[] = [];
    for (const inst of this.#drivers.values()) {
      const list = inst.enabled ? LIST[kind](inst.driver) : undefined;
      if (!list) continue;
      let items: Awaited<ReturnType<NonNullable<ReturnType<Lister>>>>;
      try {
        items = await list();
      } catch (err) {
        throw fromDriver(inst.instance, `list its ${kind}`, err);
      }
      for (const i of items) {
        out.push({ driver: inst.instance, id: i.id, kind: i.kind, name: i.name, bytes: i.bytes, last_used: i.lastUsed, in_use: i.inUse });
      }
    }
    return out;
  }

  /** Remove one: by `driver` when given, else the one instance that lists `id` (400 when several do). */
  async remove(kind: StoredKind, id: string, driver: string | undefined): Promise<void> {
    let inst: DriverInstance | undefined;
    if (driver !== undefined && driver !== '') {
      inst = this.#drivers.get(driver);
      if (!inst?.enabled || !REMOVE[kind](inst.driver))
        throw new CoreError('NOT_FOUND', `no driver instance ${driver} keeping ${kind} on this node`);
    } else {
      const holders = [...new Set((await this.list(kind)).filter((i) => i.id === id).map((i) => i.driver))];
      if (holders.length === 0)
        throw new CoreError('NOT_FOUND', `no ${kind === 'images' ? 'cached image' : 'kept disk or snapshot'} ${id} on this node`);
      if (holders.length > 1) {
        throw new CoreError('INVALID', `driver: ${id} is kept by ${holders.join(', ')}; say which (?driver=)`, { field: 'driver' });
      }
      inst = this.#drivers.get(holders[0]!);
    }
    const remove = inst ? REMOVE[kind](inst.driver) : undefined;
    if (!inst || !remove) throw new CoreError('NOT_FOUND', `no ${kind} ${id} on this node`);
    try {
      await remove(id);
    } catch (err) {
      throw fromDriver(inst.instance, `remove ${id}`, err);
    }
  }
}
