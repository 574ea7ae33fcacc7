import { inspect } from 'node:util';
import { kysely } from './kysely-runtime.js';
import type { StoreDialect } from './dialect.js';
import { StoreError } from './errors.js';
import { migrationProvider } from './migrations/index.js';
import { accessRepository } from './repositories/access.js';
import { applicationsRepository } from './repositories/applications.js';
import type { RepositoryContext } from './repositories/context.js';
import { eventsRepository } from './repositories/events.js';
import { labelsRepository } from './repositories/labels.js';
import { maintenanceRepository } from './repositories/maintenance.js';
import { lostNodesRepository } from './repositories/lost-nodes.js';
import { nodesRepository } from './repositories/nodes.js';
import { resourcesRepository } from './repositories/resources.js';
import { tasksRepository } from './repositories/tasks.js';
import { usersRepository } from './repositories/users.js';
import { StoreSignals } from './signals.js';
import type { Store } from './store.js';
import { Transactions } from './transactions.js';

/**
 * PostgreSQL's invalid_schema_name. Kysely's migrator looks for its own tables by listing the
 * tables of every schema of the database; a schema that someone else drops at that moment (another
 * application's, or another test's) fails the listing with this code although ours is fine.
 */
const SCHEMA_VANISHED = '3F000';
const MIGRATE_TRIES = 5;

function schemaVanished(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === SCHEMA_VANISHED;
}

async function migrate(dialect: StoreDialect): Promise<void> {
  const migrator = new kysely.Migrator({
    db: dialect.db,
    provider: migrationProvider,
    // migration numbers are handed out to pieces of work in advance (009 may ship before 005):
    // a database that ran a later number still gets an earlier one that lands after it
    allowUnorderedMigrations: true,
    ...(dialect.migrationTableSchema ? { migrationTableSchema: dialect.migrationTableSchema } : {}),
  });
  let outcome = await migrator.migrateToLatest();
  for (let attempt = 1; attempt < MIGRATE_TRIES && schemaVanished(outcome.error); attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 20 * attempt));
    outcome = await migrator.migrateToLatest();
  }
  const { error, results } = outcome;
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw new StoreError(
      'MIGRATION',
      `database migration ${failed ?? ''} failed: ${error instanceof Error ? error.message : inspect(error)}`,
      {
        cause: error,
      },
    );
  }
}

/**
 * The Store on Kysely, one implementation for SQLite and PostgreSQL: brings the schema up to date,
 * starts listening for other nodes' signals, and composes the repositories over one database,
 * one transaction runner and one set of signal listeners.
 */
export async function openKyselyStore(dialect: StoreDialect): Promise<Store> {
  const signals = new StoreSignals(dialect);
  const transactions = new Transactions(dialect, (s) => signals.emit(s));
  try {
    await migrate(dialect);
    await dialect.listen(
      (payload) => signals.onPayload(payload),
      () => signals.emit([{ kind: 'resync' }]),
    );
  } catch (err) {
    await dialect.close().catch(() => {});
    throw err;
  }
  const ctx: RepositoryContext = {
    db: dialect.db,
    capabilities: dialect.capabilities,
    dialect: dialect.name,
    tx: (fn) => transactions.run(fn),
    notify: (s) => signals.notify(s),
  };
  let closed = false;
  return {
    dialect: dialect.name,
    capabilities: dialect.capabilities,
    async close() {
      if (closed) return;
      closed = true;
      signals.clear();
      await dialect.close();
    },
    storageSize: () => dialect.storageSize(),
    reclaimSpace: () => dialect.reclaimSpace(),
    async backup(dest) {
      if (!dialect.backup) {
        throw new StoreError(
          'UNSUPPORTED',
          `an online backup is for SQLite; back up this ${dialect.name} database with its own tools (pg_dump)`,
        );
      }
      await dialect.backup(dest);
    },
    onSignal: (listener) => signals.onSignal(listener),
    notify: (s) => signals.notify(s),
    ...usersRepository(ctx),
    ...labelsRepository(ctx),
    ...applicationsRepository(ctx),
    ...resourcesRepository(ctx),
    ...eventsRepository(ctx),
    ...tasksRepository(ctx),
    ...nodesRepository(ctx),
    ...accessRepository(ctx),
    ...maintenanceRepository(ctx),
    ...lostNodesRepository(ctx),
  };
}
