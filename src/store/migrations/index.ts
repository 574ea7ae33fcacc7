import type { Migration, MigrationProvider } from 'kysely';
import { migration001Initial } from './001-initial.js';

/** Every migration, by name; names sort in the order they run. Never edit one that shipped: add the next. */
export const MIGRATIONS: Readonly<Record<string, Migration>> = {
  '001-initial': migration001Initial,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => ({ ...MIGRATIONS }),
};
