import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The core's Prometheus metrics, registered on the registry the composition root passes in. */
export interface CoreMetrics {
  allocations: Counter<'driver' | 'outcome'>;
  allocationSeconds: Histogram<'driver'>;
  deallocations: Counter<'driver' | 'outcome'>;
  retentionDeleted: Counter;
}

export interface MetricSources {
  node: string;
  queueLength(): Promise<number>;
  byStatus(): Promise<Partial<Record<string, number>>>;
  capacity(): { cpu: number; ram: number };
  used(): Promise<{ cpu: number; ram: number }>;
  storage(): Promise<{ database_bytes: number; wal_bytes: number | null; data_dir_bytes: number | null }>;
}

export function createCoreMetrics(registry: Registry, sources: MetricSources): CoreMetrics {
  const registers = [registry];
  const allocations = new Counter({
    name: 'shoal_allocations_total',
    help: 'Allocation attempts by driver instance and outcome (success, failure)',
    labelNames: ['driver', 'outcome'] as const,
    registers,
  });
  const allocationSeconds = new Histogram({
    name: 'shoal_allocation_seconds',
    help: 'Time from an application being created to its resource being ALLOCATED',
    labelNames: ['driver'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
    registers,
  });
  const deallocations = new Counter({
    name: 'shoal_deallocations_total',
    help: 'Deallocations by driver instance and outcome (success, failure, retry)',
    labelNames: ['driver', 'outcome'] as const,
    registers,
  });
  new Gauge({
    name: 'shoal_queue_length',
    help: 'Applications waiting for a node (NEW), in the whole pool',
    registers,
    async collect() {
      this.set(await sources.queueLength());
    },
  });
  new Gauge({
    name: 'shoal_applications',
    help: 'Applications that are not finished, by status, in the whole pool',
    labelNames: ['status'] as const,
    registers,
    async collect() {
      const counts = await sources.byStatus();
      for (const s of ['NEW', 'ELECTED', 'ALLOCATED', 'DEALLOCATE']) this.set({ status: s }, counts[s] ?? 0);
    },
  });
  new Gauge({
    name: 'shoal_node_capacity',
    help: 'What this node can hand out (cores, GB), overbooking included',
    labelNames: ['node', 'resource'] as const,
    registers,
    collect() {
      const c = sources.capacity();
      this.set({ node: sources.node, resource: 'cpu' }, c.cpu);
      this.set({ node: sources.node, resource: 'ram' }, c.ram);
    },
  });
  new Gauge({
    name: 'shoal_node_used',
    help: 'What this node holds now (cores, GB): ELECTED, ALLOCATED and DEALLOCATE applications',
    labelNames: ['node', 'resource'] as const,
    registers,
    async collect() {
      const u = await sources.used();
      this.set({ node: sources.node, resource: 'cpu' }, u.cpu);
      this.set({ node: sources.node, resource: 'ram' }, u.ram);
    },
  });
  new Gauge({
    name: 'shoal_storage_bytes',
    help: "Disk this node's state takes: database (SQLite file or PostgreSQL tables), wal (SQLite), data_dir (all of it)",
    labelNames: ['part'] as const,
    registers,
    async collect() {
      const s = await sources.storage();
      this.set({ part: 'database' }, s.database_bytes);
      if (s.wal_bytes !== null) this.set({ part: 'wal' }, s.wal_bytes);
      if (s.data_dir_bytes !== null) this.set({ part: 'data_dir' }, s.data_dir_bytes);
    },
  });
  const retentionDeleted = new Counter({
    name: 'shoal_retention_deleted_applications_total',
    help: 'Finished applications deleted by retention (with their history, tasks and access sessions)',
    registers,
  });
  return { allocations, allocationSeconds, deallocations, retentionDeleted };
}
