import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { DriverFactory, FetchPolicy, Fingerprint, MetaAccess, ResourceDriver, DriverLogger } from '../contract/index.js';
import type { DriverRegistry } from '../contract/index.js';

/** A driver instance as the node runs it: enabled (prepared) or disabled with the reason. */
export interface PreparedDriver {
  instance: string;
  driver: ResourceDriver;
  factory: DriverFactory;
  enabled: boolean;
  fingerprint: Fingerprint;
}

export interface InstanceOptions {
  registry: DriverRegistry;
  /** instance → config; undefined = every auto-detected driver with an empty config */
  configs: Record<string, Record<string, unknown> | false> | undefined;
  nodeName: string;
  dataDir: string;
  meta: MetaAccess;
  log: DriverLogger & { child(bindings: object): DriverLogger };
  /** what URL fields may reach (config fetch); absent = the drivers' safe default */
  fetch?: FetchPolicy;
}

/** "docker/ssd" → driver "docker"; "docker" → "docker". */
export function driverOfInstance(instance: string): string {
  const i = instance.indexOf('/');
  return i < 0 ? instance : instance.slice(0, i);
}

const INSTANCE_NAME = /^[a-z][a-z0-9_-]{0,31}(\/[a-z0-9][a-z0-9_-]{0,31})?$/;

/**
 * Creates and prepares the node's driver instances. A driver whose prepare() fails (no daemon,
 * qemu not installed, bad config) is kept disabled with the reason, so the node can say why.
 * An unknown driver name or a malformed instance name in the config is an error.
 */
export async function prepareDrivers(opts: InstanceOptions): Promise<PreparedDriver[]> {
  const wanted: Array<[string, Record<string, unknown>]> = [];
  if (opts.configs === undefined) {
    for (const f of opts.registry.all()) if (f.autoDetect) wanted.push([f.name, {}]);
  } else {
    for (const [instance, cfg] of Object.entries(opts.configs)) {
      if (!INSTANCE_NAME.test(instance)) {
        throw new Error(`config drivers.${instance}: instance names are "driver" or "driver/name" (lowercase letters, digits, "_", "-")`);
      }
      if (!opts.registry.get(driverOfInstance(instance))) {
        throw new Error(
          `config drivers.${instance}: unknown driver "${driverOfInstance(instance)}" (known: ${opts.registry.names().join(', ')})`,
        );
      }
      if (cfg !== false) wanted.push([instance, cfg]);
    }
  }

  return Promise.all(
    wanted.map(async ([instance, cfg]): Promise<PreparedDriver> => {
      const factory = opts.registry.get(driverOfInstance(instance))!;
      const dataDir = join(opts.dataDir, 'drivers', instance.replace('/', '--'));
      await mkdir(dataDir, { recursive: true, mode: 0o700 });
      const driver = factory.create({
        instance,
        nodeName: opts.nodeName,
        dataDir,
        log: opts.log.child({ driver: instance }),
        meta: opts.meta,
        ...(opts.fetch ? { fetch: opts.fetch } : {}),
      });
      try {
        await driver.prepare(JSON.stringify(cfg));
      } catch (err) {
        const explicit = opts.configs !== undefined;
        opts.log.warn({ driver: instance, err: (err as Error).message }, explicit ? 'driver failed to start' : 'driver not available');
        return {
          instance,
          driver,
          factory,
          enabled: false,
          fingerprint: { health: explicit ? 'unhealthy' : 'undetected', description: (err as Error).message, attributes: {} },
        };
      }
      let fingerprint: Fingerprint = { health: 'healthy', description: factory.description, attributes: {} };
      if (driver.fingerprint) {
        try {
          fingerprint = await driver.fingerprint();
        } catch (err) {
          fingerprint = { health: 'unhealthy', description: (err as Error).message, attributes: {} };
        }
      }
      return { instance, driver, factory, enabled: fingerprint.health === 'healthy', fingerprint };
    }),
  );
}
