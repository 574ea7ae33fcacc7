import { LabelNameOwnedError, isUniqueViolation } from '../errors.js';
import { labelFromDb } from '../rows.js';
import type { LabelNameRow, LabelRow, ListPage, NewLabel } from '../types.js';
import type { RepositoryContext } from './context.js';

/** attempts at taking the next label version when another node takes it at the same time */
const VERSION_RETRIES = 8;

/** Labels (immutable versions, soft-deleted) and the owners of their names. */
export interface LabelsRepository {
  /**
   * Assigns the next version of `name` atomically. The name's first publisher becomes its owner;
   * later versions only by the owner, or by an admin (`asAdmin`: the version keeps the name's owner,
   * `published_by` records the admin). Throws LabelNameOwnedError otherwise.
   */
  insertLabel(label: NewLabel, options?: { asAdmin?: boolean }): Promise<LabelRow>;
  /** the owner of a label name (also when every version is deleted) */
  getLabelName(name: string): Promise<LabelNameRow | undefined>;
  /** gives a name (owned or not) to `owner`; versions already published keep theirs */
  setLabelNameOwner(name: string, owner: string, at: string): Promise<LabelNameRow>;
  getLabel(uid: string): Promise<LabelRow | undefined>;
  /** the given or the latest version, deleted ones excluded */
  findLabel(name: string, version: number | 'latest'): Promise<LabelRow | undefined>;
  listLabels(
    query: ListPage & { name?: string; version?: number | 'latest'; after?: { name: string; version: number } },
  ): Promise<LabelRow[]>;
  /** soft delete; false if unknown or already deleted */
  deleteLabel(uid: string, at: string): Promise<boolean>;
}

export function labelsRepository({ db, capabilities, tx }: RepositoryContext): LabelsRepository {
  return {
    async insertLabel(label, options = {}) {
      for (let attempt = 0; ; attempt++) {
        try {
          return await tx(async (trx) => {
            // claim the name if nobody has it; then read (and on PostgreSQL lock) its owner. A
            // concurrent first publisher waits on the name's key and then finds it taken.
            await trx
              .insertInto('label_names')
              .values({ name: label.name, owner: label.owner, created_at: label.created_at })
              .onConflict((oc) => oc.column('name').doNothing())
              .execute();
            let q = trx.selectFrom('label_names').select('owner').where('name', '=', label.name);
            if (capabilities.rowLocks) q = q.forUpdate();
            const owner = (await q.executeTakeFirstOrThrow()).owner;
            if (owner !== label.owner && !options.asAdmin) throw new LabelNameOwnedError(label.name, owner);
            const r = await trx
              .selectFrom('labels')
              .select((eb) => eb.fn.max<number>('version').as('v'))
              .where('name', '=', label.name)
              .executeTakeFirst();
            const version = Number(r?.v ?? 0) + 1;
            const row = {
              ...label,
              owner,
              version,
              definitions: JSON.stringify(label.definitions),
              metadata: JSON.stringify(label.metadata),
              deleted_at: null,
              published_by: owner === label.owner ? null : label.owner,
            };
            await trx.insertInto('labels').values(row).execute();
            return { finish: () => ({ ...label, owner, version, deleted_at: null, published_by: label.owner }) };
          });
        } catch (err) {
          // two nodes creating the same name at once: the loser takes the next version
          if (attempt < VERSION_RETRIES && isUniqueViolation(err)) continue;
          throw err;
        }
      }
    },

    async getLabelName(name) {
      return db.selectFrom('label_names').selectAll().where('name', '=', name).executeTakeFirst();
    },

    async setLabelNameOwner(name, owner, at) {
      return tx(async (trx) => {
        await trx
          .insertInto('label_names')
          .values({ name, owner, created_at: at })
          .onConflict((oc) => oc.column('name').doUpdateSet({ owner }))
          .execute();
        const row = await trx.selectFrom('label_names').selectAll().where('name', '=', name).executeTakeFirstOrThrow();
        return { finish: () => row };
      });
    },

    async getLabel(uid) {
      const r = await db.selectFrom('labels').selectAll().where('uid', '=', uid).executeTakeFirst();
      return r ? labelFromDb(r) : undefined;
    },

    async findLabel(name, version) {
      const base = db.selectFrom('labels').selectAll().where('name', '=', name).where('deleted_at', 'is', null);
      const q = version === 'latest' ? base.orderBy('version', 'desc').limit(1) : base.where('version', '=', version);
      const r = await q.executeTakeFirst();
      return r ? labelFromDb(r) : undefined;
    },

    async listLabels(query) {
      let q = db.selectFrom('labels as l').selectAll('l').where('l.deleted_at', 'is', null);
      if (query.name !== undefined) q = q.where('l.name', '=', query.name);
      if (query.version === 'latest') {
        q = q.where('l.version', '=', (eb) =>
          eb
            .selectFrom('labels as m')
            .select((e) => e.fn.max<number>('m.version').as('v'))
            .whereRef('m.name', '=', 'l.name')
            .where('m.deleted_at', 'is', null),
        );
      } else if (typeof query.version === 'number') {
        q = q.where('l.version', '=', query.version);
      }
      const after = query.after;
      if (after) {
        // a row-value comparison: both dialects seek the (name, version) index with it
        q = q.where((eb) => eb(eb.refTuple('l.name', 'l.version'), '>', eb.tuple(after.name, after.version)));
      }
      const rows = await q.orderBy('l.name').orderBy('l.version').limit(query.limit).execute();
      return rows.map(labelFromDb);
    },

    async deleteLabel(uid, at) {
      const r = await db
        .updateTable('labels')
        .set({ deleted_at: at })
        .where('uid', '=', uid)
        .where('deleted_at', 'is', null)
        .executeTakeFirst();
      return Number(r.numUpdatedRows) > 0;
    },
  };
}
