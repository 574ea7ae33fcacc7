import type { Kysely as KyselyDb } from 'kysely';
import { kysely } from '../kysely-runtime.js';
import pg from 'pg';
import type { StoreDialect } from '../dialect.js';
import type { Database } from '../schema.js';
import { POSTGRES_CAPABILITIES } from './postgres-capabilities.js';

const INT8_OID = 20;
const NUMERIC_OID = 1700;
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
/** application_name of the LISTEN connection (visible in pg_stat_activity) */
export const LISTENER_NAME = 'shoal-listener';

/** int8 and numeric as JS numbers (ids, sums and counters stay far below 2^53). */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary'): ((value: string) => unknown) =>
    oid === INT8_OID || oid === NUMERIC_OID
      ? (v: string) => Number(v)
      : // pg-types declares its parsers as `any`: a parser takes the value's text
        (pg.types.getTypeParser(oid, format ?? 'text') as (value: string) => unknown)) as typeof pg.types.getTypeParser,
};

export interface PostgresOptions {
  /** schema to use instead of public (created if missing): `?schema=NAME` in the URL */
  schema?: string;
  poolSize?: number;
  onError?: (err: Error) => void;
}

/** Splits `?schema=NAME` off a postgres:// URL. */
export function parsePostgresUrl(url: string): { connectionString: string; schema?: string } {
  const u = new URL(url);
  const schema = u.searchParams.get('schema') ?? undefined;
  u.searchParams.delete('schema');
  if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
    throw new Error(`schema "${schema}" must be lowercase letters, digits and "_"`);
  }
  return { connectionString: u.toString(), ...(schema === undefined ? {} : { schema }) };
}

export async function openPostgresDialect(connectionString: string, options: PostgresOptions = {}): Promise<StoreDialect> {
  const schema = options.schema;
  const connOptions = schema ? `-c search_path=${schema}` : undefined;
  const clientConfig: pg.ClientConfig = { connectionString, types, ...(connOptions ? { options: connOptions } : {}) };
  if (schema) {
    const c = new pg.Client(clientConfig);
    await c.connect();
    try {
      await c.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    } finally {
      await c.end();
    }
  }
  const pool = new pg.Pool({ ...clientConfig, max: options.poolSize ?? 10, idleTimeoutMillis: 30_000 });
  pool.on('error', (err) => options.onError?.(err));
  const db: KyselyDb<Database> = new kysely.Kysely<Database>({ dialect: new kysely.PostgresDialect({ pool }) });
  const channel = `shoal_${schema ?? 'public'}`;

  let listener: pg.Client | undefined;
  let closed = false;
  let reconnectTimer: NodeJS.Timeout | undefined;
  const onError = (err: Error) => options.onError?.(err);

  async function listenOnce(onPayload: (payload: string) => void): Promise<pg.Client> {
    const client = new pg.Client({ ...clientConfig, application_name: LISTENER_NAME });
    client.on('error', () => {}); // reported through watch()
    client.on('notification', (msg) => {
      if (msg.channel === channel && msg.payload !== undefined) onPayload(msg.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${channel}`);
    } catch (err) {
      await client.end().catch(() => {});
      throw err;
    }
    return client;
  }

  function watch(client: pg.Client, onPayload: (payload: string) => void, onReconnect: () => void): void {
    let lost = false;
    const onLost = (err?: Error) => {
      if (lost) return;
      lost = true;
      if (err) onError(err);
      client.end().catch(() => {});
      if (closed) return;
      listener = undefined;
      reconnectLater(onPayload, onReconnect);
    };
    client.on('error', onLost);
    client.on('end', () => onLost());
  }

  function reconnectLater(onPayload: (payload: string) => void, onReconnect: () => void): void {
    reconnectTimer = setTimeout(() => {
      listenOnce(onPayload).then(
        async (client) => {
          if (closed) {
            await client.end().catch(() => {});
            return;
          }
          listener = client;
          watch(client, onPayload, onReconnect);
          onReconnect();
        },
        (err: Error) => {
          onError(err);
          if (!closed) reconnectLater(onPayload, onReconnect);
        },
      );
    }, 500);
    reconnectTimer.unref();
  }

  return {
    name: 'postgres',
    capabilities: POSTGRES_CAPABILITIES,
    db,
    migrationTableSchema: schema ?? 'public',
    listen: async (onPayload, onReconnect) => {
      const client = await listenOnce(onPayload);
      listener = client;
      watch(client, onPayload, onReconnect);
    },
    notify: async (exec, payloads) => {
      if (payloads.length === 0) return;
      const { sql } = kysely;
      await sql`select ${sql.join(payloads.map((p) => sql`pg_notify(${channel}, ${p})`))}`.execute(exec);
    },
    storageSize: async () => {
      // the tables of this node's schema with their indexes and TOAST; the server keeps its own WAL
      const r = await kysely.sql<{ bytes: number | null }>`select sum(pg_total_relation_size(c.oid)) as bytes
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = current_schema() and c.relkind = 'r'`.execute(db);
      return { database_bytes: Number(r.rows[0]?.bytes ?? 0), wal_bytes: null };
    },
    // autovacuum makes deleted rows' space reusable; giving it back to the OS is VACUUM FULL, an operator's call
    reclaimSpace: async () => 0,
    close: async () => {
      if (closed) return;
      closed = true;
      if (reconnectTimer) clearTimeout(reconnectTimer);
      const l = listener;
      listener = undefined;
      if (l) await l.end().catch(() => {});
      await db.destroy();
    },
  };
}
