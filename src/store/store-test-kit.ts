import { randomUUID } from 'node:crypto';
import { after, before } from 'node:test';
import { openStore } from './open-store.js';
import { createTestDatabase, type TestDatabase, type TestDialect } from './testing/index.js';
import type { ClaimChoice, ClaimRequest, NewApplication, NodeRow, Store } from './store.js';

/** Rows and requests the store's tests (the repositories' test files) build their cases from. */

export const now = () => new Date().toISOString();

export function nodeRow(name: string, over: Partial<NodeRow> = {}): NodeRow {
  return {
    name,
    address: `https://${name}:8001`,
    cpu: 4,
    ram: 8,
    cpu_overbook: 1,
    ram_overbook: 1,
    tags: { os: 'linux' },
    drivers: [{ instance: 'test', driver: 'test', enabled: true, health: 'healthy', description: '', attributes: {} }],
    heartbeat_at: now(),
    started_at: now(),
    maintenance: false,
    lost_at: null,
    ...over,
  };
}

export async function makeLabel(store: Store, name = 'lbl', cpu = 1, ram = 1) {
  return store.insertLabel({
    uid: randomUUID(),
    name,
    definitions: [{ driver: 'test', options: {}, requirements: { cpu, ram, disks: {}, network: '' } }],
    metadata: { A: '1' },
    lifetime: null,
    wait_timeout: null,
    owner: 'alice',
    created_at: now(),
  });
}

export function newApp(labelUid: string, owner = 'alice', over: Partial<NewApplication> = {}): NewApplication {
  return {
    uid: randomUUID(),
    label_uid: labelUid,
    owner,
    metadata: { JOB: '1' },
    lifetime: null,
    wait_timeout: null,
    wait_deadline: null,
    created_at: now(),
    ...over,
  };
}

/** A claim request that takes 1-cpu applications while they fit `cap`. */
export function greedyClaim(node: string, cap: number, max = Infinity): ClaimRequest {
  return {
    node,
    at: now(),
    pageSize: 16,
    maxScan: 1000,
    choose(candidates, usage): ClaimChoice {
      const picks: ClaimChoice['picks'] = [];
      for (const c of candidates) {
        if (usage.cpu + 1 > cap || picks.length >= max) return { picks, more: false };
        usage.cpu += 1;
        usage.ram += 1;
        picks.push({ uid: c.uid, driver: 'test', definition_index: 0, cpu: 1, ram: 1, description: `elected by ${node}` });
      }
      return { picks, more: true };
    },
  };
}

/** A suite's own database of one kind and a store open on it: created before its tests, closed and dropped after. */
export interface SuiteStore {
  readonly store: Store;
  readonly tdb: TestDatabase;
}

/** Call inside a `describe`: registers the before/after hooks and gives the suite's store. */
export function storeForSuite(kind: TestDialect): SuiteStore {
  let tdb: TestDatabase | undefined;
  let store: Store | undefined;
  before(async () => {
    tdb = await createTestDatabase(kind);
    store = await openStore(tdb.url);
  });
  after(async () => {
    await store?.close();
    await tdb?.drop();
  });
  return {
    get store(): Store {
      if (!store) throw new Error('the suite store is opened in before()');
      return store;
    },
    get tdb(): TestDatabase {
      if (!tdb) throw new Error('the suite database is created in before()');
      return tdb;
    },
  };
}
