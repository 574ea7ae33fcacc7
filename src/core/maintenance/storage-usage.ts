import { diskUsage } from '../../lib/fs.js';
import type { NodeStorage } from '../../model/index.js';
import type { Store } from '../../store/store.js';

/** a reading younger than this is answered from the cache */
const FRESH_MS = 5_000;

/**
 * Database (+WAL) and data-dir sizes for GET /nodes/this, cheap to ask often: measured at most
 * every 5 s (a walk of the data dir can take a while), concurrent askers share one measurement,
 * and a stale reading is answered at once while a new one is taken in the background.
 */
export class StorageUsage {
  readonly #store: Store;
  readonly #dataDir: string | undefined;
  #last: { at: number; value: NodeStorage } | undefined;
  #measuring: Promise<NodeStorage> | undefined;

  constructor(store: Store, dataDir: string | undefined) {
    this.#store = store;
    this.#dataDir = dataDir;
  }

  async get(): Promise<NodeStorage> {
    const last = this.#last;
    if (last && Date.now() - last.at < FRESH_MS) return last.value;
    const next = this.#measure();
    if (last) {
      next.catch(() => undefined);
      return last.value;
    }
    return next;
  }

  #measure(): Promise<NodeStorage> {
    this.#measuring ??= (async () => {
      const [db, dir] = await Promise.all([
        this.#store.storageSize(),
        this.#dataDir === undefined ? Promise.resolve(undefined) : diskUsage(this.#dataDir),
      ]);
      const value: NodeStorage = {
        database_bytes: db.database_bytes,
        wal_bytes: db.wal_bytes,
        data_dir_bytes: dir?.bytes ?? null,
        measured_at: new Date().toISOString(),
      };
      this.#last = { at: Date.now(), value };
      return value;
    })().finally(() => {
      this.#measuring = undefined;
    });
    return this.#measuring;
  }
}
