import { Type, type Static } from '@sinclair/typebox';
import { Timestamp } from './common.js';

export const ROLES = ['admin', 'user'] as const;
export const Role = Type.Union(ROLES.map((r) => Type.Literal(r)));
export type Role = (typeof ROLES)[number];

export const UserName = Type.String({ pattern: '^[a-z][a-z0-9_-]{0,62}$', description: 'lowercase letters, digits, "_", "-"' });

export const UserCreate = Type.Object({ name: UserName, role: Type.Optional(Role) });
export type UserCreate = Static<typeof UserCreate>;

export const User = Type.Object({ name: UserName, role: Role, created_at: Timestamp }, { $id: 'User' });
export type User = Static<typeof User>;

/** Returned once, at creation: the token is never shown again. */
export const UserCreated = Type.Object({ name: UserName, role: Role, token: Type.String(), created_at: Timestamp });
export type UserCreated = Static<typeof UserCreated>;
