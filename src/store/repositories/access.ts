import { ConflictError, isUniqueViolation } from '../errors.js';
import type { AccessSessionRow, UserKeyRow } from '../types.js';
import type { RepositoryContext } from './context.js';

/** The end of an access session: when, the exit status if there was one, bytes each way. */
export interface SessionEnd {
  ended_at: string;
  exit_status: number | null;
  bytes_in: number;
  bytes_out: number;
}

/** Users' public SSH keys and the access sessions into environments (migration 009). */
export interface AccessRepository {
  /** throws ConflictError when the key (its fingerprint) is registered already, by anyone */
  insertUserKey(row: UserKeyRow): Promise<void>;
  /** a user's keys, oldest first */
  listUserKeys(user: string): Promise<UserKeyRow[]>;
  getUserKey(fingerprint: string): Promise<UserKeyRow | undefined>;
  /** false when `user` has no key with this fingerprint */
  deleteUserKey(user: string, fingerprint: string): Promise<boolean>;
  insertSession(row: AccessSessionRow): Promise<void>;
  finishSession(id: string, end: SessionEnd): Promise<void>;
  /** an application's sessions, oldest first */
  listSessions(applicationUid: string, limit: number): Promise<AccessSessionRow[]>;
}

function sessionFromDb(r: AccessSessionRow): AccessSessionRow {
  // BIGINT columns come back as strings on PostgreSQL
  return {
    ...r,
    bytes_in: Number(r.bytes_in),
    bytes_out: Number(r.bytes_out),
    exit_status: r.exit_status === null ? null : Number(r.exit_status),
  };
}

export function accessRepository({ db }: RepositoryContext): AccessRepository {
  return {
    async insertUserKey(row) {
      try {
        await db.insertInto('user_keys').values(row).execute();
      } catch (err) {
        if (isUniqueViolation(err)) throw new ConflictError(`key ${row.fingerprint} is registered already`, { cause: err });
        throw err;
      }
    },

    async listUserKeys(user) {
      return db.selectFrom('user_keys').selectAll().where('user_name', '=', user).orderBy('created_at').orderBy('fingerprint').execute();
    },

    async getUserKey(fingerprint) {
      return db.selectFrom('user_keys').selectAll().where('fingerprint', '=', fingerprint).executeTakeFirst();
    },

    async deleteUserKey(user, fingerprint) {
      const r = await db.deleteFrom('user_keys').where('user_name', '=', user).where('fingerprint', '=', fingerprint).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    },

    async insertSession(row) {
      await db.insertInto('access_sessions').values(row).execute();
    },

    async finishSession(id, end) {
      await db.updateTable('access_sessions').set(end).where('id', '=', id).where('ended_at', 'is', null).execute();
    },

    async listSessions(applicationUid, limit) {
      const rows = await db
        .selectFrom('access_sessions')
        .selectAll()
        .where('application_uid', '=', applicationUid)
        .orderBy('started_at')
        .orderBy('id')
        .limit(limit)
        .execute();
      return rows.map(sessionFromDb);
    },
  };
}
