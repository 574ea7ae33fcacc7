import { Type, type Static } from '@sinclair/typebox';
import { Timestamp } from './common.js';

export const ROLES = ['admin', 'user'] as const;
export const Role = Type.Union(ROLES.map((r) => Type.Literal(r)));
export type Role = (typeof ROLES)[number];

export const UserName = Type.String({ pattern: '^[a-z][a-z0-9_-]{0,62}$', description: 'lowercase letters, digits, "_", "-"' });

export const UserCreate = Type.Object({ name: UserName, role: Type.Optional(Role) });
export type UserCreate = Static<typeof UserCreate>;

export const User = Type.Object(
  {
    name: UserName,
    id: Type.Optional(
      Type.String({
        description: 'immutable and never reused: what owns applications, labels and tokens (a new user of a name inherits nothing)',
      }),
    ),
    role: Role,
    created_at: Timestamp,
  },
  { $id: 'User' },
);
export type User = Static<typeof User>;

/** Returned once, at creation: the token is never shown again. */
export const UserCreated = Type.Object({
  name: UserName,
  id: Type.Optional(Type.String({ description: "the new user's immutable id" })),
  role: Role,
  token: Type.String(),
  created_at: Timestamp,
});
export type UserCreated = Static<typeof UserCreated>;

export const TokenName = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$',
  description: 'what the token is for: 1–64 letters, digits, "_", ".", ":", "-"',
});

export const TokenCreate = Type.Object({
  name: Type.Optional(TokenName),
  expires_in: Type.Optional(Type.String({ description: 'a duration ("90s", "30m", "12h", "30d"); omit for a token that never expires' })),
});
export type TokenCreate = Static<typeof TokenCreate>;

/** A token as listed: its secret is never shown again. */
export const TokenInfo = Type.Object(
  {
    id: Type.String({ description: 'the public half of the token (`<id>.<secret>`)' }),
    name: Type.String(),
    created_at: Timestamp,
    expires_at: Type.Union([Timestamp, Type.Null()], { description: 'null: never expires' }),
    expired: Type.Boolean(),
  },
  { $id: 'TokenInfo' },
);
export type TokenInfo = Static<typeof TokenInfo>;

/** Returned once, at creation. */
export const TokenCreated = Type.Object({
  id: Type.String(),
  name: Type.String(),
  user: UserName,
  token: Type.String({ description: 'shown only now' }),
  created_at: Timestamp,
  expires_at: Type.Union([Timestamp, Type.Null()]),
});
export type TokenCreated = Static<typeof TokenCreated>;
