import type { Migration, MigrationProvider } from 'kysely';
import { migration001Initial } from './001-initial.js';
import { migration002AppsCounter } from './002-apps-counter.js';
import { migration003LabelNames } from './003-label-names.js';
import { migration004ApplicationsSeq } from './004-applications-seq.js';
import { migration005KeysetRetention } from './005-keyset-retention.js';
import { migration006NodesLost } from './006-nodes-lost.js';
import { migration009Access } from './009-access.js';
import { migration011UserIdsTokens } from './011-user-ids-tokens.js';

/** Every migration, by name; names sort in the order they run. Never edit one that shipped: add the next. */
export const MIGRATIONS: Readonly<Record<string, Migration>> = {
  '001-initial': migration001Initial,
  '002-apps-counter': migration002AppsCounter,
  '003-label-names': migration003LabelNames,
  '004-applications-seq': migration004ApplicationsSeq,
  '005-keyset-retention': migration005KeysetRetention,
  '006-nodes-lost': migration006NodesLost,
  '009-access': migration009Access,
  '011-user-ids-tokens': migration011UserIdsTokens,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => ({ ...MIGRATIONS }),
};
