import type { AllocateContext } from '../../contract/index.js';

/**
 * Whose reused disks an allocation gets: the label's owner, plus the application's owner when that
 * is someone else. A user allocating from another user's label gets a reuse slot of their own, so
 * reused disks never carry data between users (in either direction). "" when the caller gave
 * neither (a driver called as in Aquarium Fish's interface): the label name alone keys the disks.
 * Owners are user ids (`<name>.<hex>`, or a name: `[a-z][a-z0-9_.-]*`), so "+" cannot make two different pairs look alike;
 * a new user of a deleted user's name has a new id and gets none of their disks.
 */
export function reuseScope(context: AllocateContext | undefined): string {
  const labelOwner = context?.labelOwner ?? '';
  const user = context?.owner ?? '';
  if (user === '' || user === labelOwner) return labelOwner;
  return `${labelOwner}+${user}`;
}
