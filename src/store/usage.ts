import type { Kysely } from 'kysely';
import type { Database } from './schema.js';
import { HOLDING_STATUSES, type NodeUsage } from './types.js';

/** What `node` holds (ELECTED, ALLOCATED, DEALLOCATE), in total and per driver instance. */
export async function usageOf(db: Kysely<Database>, node: string): Promise<NodeUsage> {
  const rows = await db
    .selectFrom('applications')
    .select(['driver', (eb) => eb.fn.sum<number>('cpu').as('cpu'), (eb) => eb.fn.sum<number>('ram').as('ram')])
    .where('node', '=', node)
    .where('status', 'in', HOLDING_STATUSES)
    .groupBy('driver')
    .execute();
  const usage: NodeUsage = { cpu: 0, ram: 0, drivers: new Map() };
  for (const r of rows) {
    const cpu = Number(r.cpu ?? 0);
    const ram = Number(r.ram ?? 0);
    usage.cpu += cpu;
    usage.ram += ram;
    if (r.driver !== null) usage.drivers.set(r.driver, { cpu, ram });
  }
  return usage;
}
