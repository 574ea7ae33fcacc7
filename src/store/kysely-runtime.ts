import { createRequire } from 'node:module';
import type * as KyselyModule from 'kysely';

/**
 * Kysely's runtime, loaded from its CommonJS build: the ESM build is ~280 modules and costs
 * ~20 MB of RSS at import, the CommonJS one ~13 MB (idle node RSS has a 120 MB budget).
 * Types still come from `import type … from 'kysely'`; only values come from here.
 */
const load = createRequire(import.meta.url);
export const kysely = load('kysely') as typeof KyselyModule;
