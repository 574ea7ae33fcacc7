import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Label, LabelCreate, LabelNameOwner, PageOf } from '../../model/index.js';
import { LabelNameOwnedError } from '../../store/errors.js';
import type { LabelRow, Store } from '../../store/store.js';
import type { DriverInstance } from '../core-options.js';
import type { Caller, LabelQuery } from '../core-service.js';
import { CoreError } from '../errors.js';
import { toLabel, toLabelNameOwner } from '../mappers.js';
import { userNameOf } from '../users/user-ids.js';
import { decodeCursor, encodeCursor, isNameVersion, pageLimit } from '../pagination.js';
import type { NodeOffer } from '../scheduler/placement.js';
import { checkLabel, checkMetadata, LABEL_NAME } from './label-validation.js';
import type { MetadataLimits } from '../metadata-limits.js';

const UID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const now = (): string => new Date().toISOString();

export interface LabelServiceDeps {
  store: Store;
  log: Logger;
  node: string;
  drivers: ReadonlyMap<string, DriverInstance>;
  /** this node and the other live ones */
  liveOffers(): NodeOffer[];
  metadataLimits: MetadataLimits;
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
    // refuse early (before drivers look at the definitions); the store checks again atomically
    if (typeof body.name === 'string' && caller.role !== 'admin') {
      const named = await this.#store.getLabelName(body.name);
      if (named && named.owner !== caller.id) throw await this.#notOwner(body.name, named.owner, 'publish a new version of');
    }
    const metadata = checkMetadata(body.metadata, 'metadata', this.#d.metadataLimits); // cheap: before the drivers' checks
    const definitions = await checkLabel(body, { local: this.#d.drivers, remote });
    let row: LabelRow;
    try {
      row = await this.#store.insertLabel(
        {
          uid: randomUUID(),
          name: body.name,
          definitions,
          metadata,
          lifetime: body.lifetime ?? null,
          wait_timeout: body.wait_timeout ?? null,
          owner: caller.id,
          created_at: now(),
        },
        { asAdmin: caller.role === 'admin' },
      );
    } catch (err) {
      if (err instanceof LabelNameOwnedError) throw await this.#notOwner(err.labelName, err.owner, 'publish a new version of');
      throw err;
    }
    this.#labels.set(row.uid, { ...row, deleted_at: null });
    this.#log.info({ label: row.name, version: row.version, owner: row.owner, by: caller.name }, 'label created');
    return toLabel(row);
  }

  /** Who owns a label name (any user may ask: GET /labels shows owners too). */
  async getLabelOwner(_caller: Caller, name: string): Promise<LabelNameOwner> {
    const named = LABEL_NAME.test(name) ? await this.#store.getLabelName(name) : undefined;
    if (!named) throw new CoreError('NOT_FOUND', `label name ${name} is not owned by anyone (never published)`);
    return toLabelNameOwner(named);
  }

  /** Admin only: gives a label name to another user (published versions keep their owner and disks). */
  async setLabelOwner(caller: Caller, name: string, owner: string): Promise<LabelNameOwner> {
    if (caller.role !== 'admin') throw new CoreError('FORBIDDEN', 'only an admin may give a label name to another user');
    if (!LABEL_NAME.test(name)) throw new CoreError('INVALID', 'name: not a label name', { field: 'name' });
    const user = await this.#store.getUser(owner);
    if (!user) throw new CoreError('INVALID', `owner: no user "${owner}"`, { field: 'owner' });
    const row = await this.#store.setLabelNameOwner(name, user.id, now());
    this.#log.info({ label: name, owner, owner_id: user.id, by: caller.name }, 'label name owner set');
    return toLabelNameOwner(row);
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
    if (caller.role !== 'admin') {
      const owner = (await this.#store.getLabelName(l.name))?.owner ?? l.owner;
      if (owner !== caller.id) throw await this.#notOwner(l.name, owner, `delete version ${l.version} of`);
    }
    if (!(await this.#store.deleteLabel(uid, now()))) throw new CoreError('NOT_FOUND', `label ${uid} not found`);
    this.#log.info({ label: l.name, version: l.version, by: caller.name }, 'label deleted');
  }

  /** FORBIDDEN naming the owner (by name; and saying so when that user was deleted). */
  async #notOwner(name: string, ownerId: string, action: string): Promise<CoreError> {
    const owner = userNameOf(ownerId);
    const gone = (await this.#store.getUserById(ownerId)) === undefined;
    const who = gone ? `${owner} (a deleted user: an admin may give the name to someone else)` : owner;
    return new CoreError(
      'FORBIDDEN',
      `label name "${name}" belongs to ${who}: only its owner or an admin may ${action} it (names are owned by their first publisher)`,
      { name, owner, owner_id: ownerId },
    );
  }
}
