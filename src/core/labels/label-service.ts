import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Label, LabelCreate, PageOf } from '../../model/index.js';
import type { LabelRow, Store } from '../../store/store.js';
import type { DriverInstance } from '../core-options.js';
import type { Caller, LabelQuery } from '../core-service.js';
import { CoreError } from '../errors.js';
import { toLabel } from '../mappers.js';
import { decodeCursor, encodeCursor, isNameVersion, pageLimit } from '../pagination.js';
import type { NodeOffer } from '../scheduler/placement.js';
import { checkLabel, checkMetadata } from './label-validation.js';

const UID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const now = (): string => new Date().toISOString();

export interface LabelServiceDeps {
  store: Store;
  log: Logger;
  node: string;
  drivers: ReadonlyMap<string, DriverInstance>;
  /** this node and the other live ones */
  liveOffers(): NodeOffer[];
}

/** Versioned, immutable labels; a cache by uid (immutable, so never stale). */
export class LabelService {
  readonly #d: LabelServiceDeps;
  readonly #store: Store;
  readonly #log: Logger;
  readonly #labels = new Map<string, LabelRow>();

  constructor(deps: LabelServiceDeps) {
    this.#d = deps;
    this.#store = deps.store;
    this.#log = deps.log;
  }

  /** A label by uid, deleted or not (applications keep using theirs). */
  async get(uid: string): Promise<LabelRow> {
    let l = this.#labels.get(uid);
    if (!l) {
      l = await this.#store.getLabel(uid);
      if (!l) throw new Error(`label ${uid} is missing from the store`);
      if (this.#labels.size >= 10_000) this.#labels.clear();
      this.#labels.set(uid, l);
    }
    return l;
  }

  remember(label: LabelRow): void {
    if (this.#labels.size >= 10_000) this.#labels.clear();
    this.#labels.set(label.uid, label);
  }

  async createLabel(caller: Caller, body: LabelCreate): Promise<Label> {
    const remote = new Set<string>();
    for (const o of this.#d.liveOffers()) if (o.node !== this.#d.node) for (const d of o.drivers.keys()) remote.add(d);
    const definitions = await checkLabel(body, { local: this.#d.drivers, remote });
    const row = await this.#store.insertLabel({
      uid: randomUUID(),
      name: body.name,
      definitions,
      metadata: checkMetadata(body.metadata, 'metadata'),
      lifetime: body.lifetime ?? null,
      wait_timeout: body.wait_timeout ?? null,
      owner: caller.name,
      created_at: now(),
    });
    this.#labels.set(row.uid, { ...row, deleted_at: null });
    this.#log.info({ label: row.name, version: row.version, by: caller.name }, 'label created');
    return toLabel(row);
  }

  async listLabels(_caller: Caller, query: LabelQuery): Promise<PageOf<Label>> {
    const limit = pageLimit(query.limit);
    const after = decodeCursor(query.cursor, isNameVersion);
    let version: number | 'latest' | undefined = query.version;
    if (typeof version === 'string' && version !== 'latest') {
      const n = Number(version);
      if (!Number.isInteger(n) || n < 1) throw new CoreError('INVALID', 'version: a version number or "latest"', { field: 'version' });
      version = n;
    }
    const rows = await this.#store.listLabels({
      limit,
      ...(query.name === undefined ? {} : { name: query.name }),
      ...(version === undefined ? {} : { version }),
      ...(after ? { after } : {}),
    });
    const last = rows.at(-1);
    return {
      items: rows.map(toLabel),
      ...(rows.length === limit && last ? { next_cursor: encodeCursor({ name: last.name, version: last.version }) } : {}),
    };
  }

  async getLabel(_caller: Caller, uid: string): Promise<Label> {
    const l = UID.test(uid) ? await this.#store.getLabel(uid) : undefined;
    if (!l || l.deleted_at) throw new CoreError('NOT_FOUND', `label ${uid} not found`);
    return toLabel(l);
  }

  async deleteLabel(caller: Caller, uid: string): Promise<void> {
    const l = UID.test(uid) ? await this.#store.getLabel(uid) : undefined;
    if (!l || l.deleted_at) throw new CoreError('NOT_FOUND', `label ${uid} not found`);
    if (caller.role !== 'admin' && l.owner !== caller.name) {
      throw new CoreError('FORBIDDEN', `label ${l.name} version ${l.version} belongs to ${l.owner}; only its owner or an admin may delete it`);
    }
    if (!(await this.#store.deleteLabel(uid, now()))) throw new CoreError('NOT_FOUND', `label ${uid} not found`);
    this.#log.info({ label: l.name, version: l.version, by: caller.name }, 'label deleted');
  }
}
