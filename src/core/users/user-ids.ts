import { randomBytes } from 'node:crypto';

/**
 * User ids are immutable and never reused: every owner column (applications, labels, label names,
 * resources, tasks, states) holds one, never a name, so a new user with a deleted user's name
 * inherits nothing. A new user's id is `<name>.<16 hex>` (names never contain "."), readable in
 * logs and disk folders; users from before store migration 011 kept their name as their id.
 */
export function newUserId(name: string): string {
  return `${name}.${randomBytes(8).toString('hex')}`;
}

/** The name part of a user id: what the API shows as `owner`. */
export function userNameOf(id: string): string {
  const dot = id.indexOf('.');
  return dot < 0 ? id : id.slice(0, dot);
}
