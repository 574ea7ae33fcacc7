import type { Logger } from 'pino';
import type { AccessSession, UserKey, UserKeyCreate } from '../../model/index.js';
import { ConflictError } from '../../store/errors.js';
import type { AccessSessionRow, Store, UserKeyRow } from '../../store/store.js';
import type { Caller } from '../core-service.js';
import { CoreError } from '../errors.js';
import { parsePublicKey } from './ssh-keys.js';

/** most keys one user may register */
const MAX_KEYS_PER_USER = 100;
/** most sessions one application's history lists */
export const MAX_SESSIONS_LISTED = 1000;
const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/;

const now = (): string => new Date().toISOString();

export function toUserKey(r: UserKeyRow): UserKey {
  return {
    fingerprint: r.fingerprint,
    user: r.user_name,
    type: r.key_type,
    key: r.public_key,
    comment: r.comment,
    created_at: r.created_at,
  };
}

export function toAccessSession(r: AccessSessionRow): AccessSession {
  return {
    id: r.id,
    application_uid: r.application_uid,
    user: r.user_name,
    source: r.source,
    via: r.via as AccessSession['via'],
    kind: r.kind as AccessSession['kind'],
    node: r.node,
    started_at: r.started_at,
    ended_at: r.ended_at,
    exit_status: r.exit_status,
    bytes_in: r.bytes_in,
    bytes_out: r.bytes_out,
  };
}

/** Users' public SSH keys: an admin manages anyone's, a user their own; someone else's look unknown. */
export class KeyService {
  readonly #store: Store;
  readonly #log: Logger;

  constructor(store: Store, log: Logger) {
    this.#store = store;
    this.#log = log;
  }

  async #visibleUser(caller: Caller, name: string): Promise<void> {
    if (caller.role !== 'admin' && caller.name !== name) throw new CoreError('NOT_FOUND', `user "${name}" not found`);
    if (!(await this.#store.getUser(name))) throw new CoreError('NOT_FOUND', `user "${name}" not found`);
  }

  async addKey(caller: Caller, name: string, body: UserKeyCreate): Promise<UserKey> {
    await this.#visibleUser(caller, name);
    if (typeof body.key !== 'string') throw new CoreError('INVALID', 'key: must be a string', { field: 'key' });
    const key = parsePublicKey(body.key);
    if ((await this.#store.listUserKeys(name)).length >= MAX_KEYS_PER_USER) {
      throw new CoreError('CONFLICT', `user "${name}" has ${MAX_KEYS_PER_USER} keys already; remove one first`);
    }
    const row: UserKeyRow = {
      fingerprint: key.fingerprint,
      user_name: name,
      key_type: key.type,
      public_key: key.publicKey,
      comment: key.comment,
      created_at: now(),
    };
    try {
      await this.#store.insertUserKey(row);
    } catch (err) {
      if (err instanceof ConflictError)
        throw new CoreError('CONFLICT', `key ${key.fingerprint} is registered already (a key belongs to one user)`);
      throw err;
    }
    this.#log.info({ user: name, fingerprint: key.fingerprint, type: key.type, by: caller.name }, 'ssh key added');
    return toUserKey(row);
  }

  async listKeys(caller: Caller, name: string): Promise<UserKey[]> {
    await this.#visibleUser(caller, name);
    return (await this.#store.listUserKeys(name)).map(toUserKey);
  }

  async deleteKey(caller: Caller, name: string, fingerprint: string): Promise<void> {
    await this.#visibleUser(caller, name);
    if (!FINGERPRINT.test(fingerprint)) {
      throw new CoreError('INVALID', 'fingerprint: must be "SHA256:" and 43 base64 characters, as `shoal user key list` shows it', {
        field: 'fingerprint',
      });
    }
    if (!(await this.#store.deleteUserKey(name, fingerprint))) {
      throw new CoreError('NOT_FOUND', `user "${name}" has no key ${fingerprint}`);
    }
    this.#log.info({ user: name, fingerprint, by: caller.name }, 'ssh key removed');
  }

  /** Who a key offered to the SSH gate belongs to (null: nobody registered it). */
  async callerForKey(fingerprint: string): Promise<Caller | null> {
    const key = await this.#store.getUserKey(fingerprint);
    if (!key) return null;
    const user = await this.#store.getUser(key.user_name);
    return user ? { id: user.id, name: user.name, role: user.role } : null;
  }
}
