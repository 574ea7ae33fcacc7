import { Type } from '@sinclair/typebox';
import {
  Page,
  TokenCreate,
  TokenCreated,
  TokenInfo,
  User,
  UserCreate,
  UserCreated,
  UserKey,
  UserKeyCreate,
  UserName,
} from '../../../model/index.js';
import { closed } from '../../closed-schema.js';

export const UserCreateBody = closed(UserCreate);
export const UserNameParams = Type.Object({ name: UserName });
export const UserPage = Page(User);
export const UserKeyCreateBody = closed(UserKeyCreate);
export const UserKeyParams = Type.Object({
  name: UserName,
  fingerprint: Type.String({ maxLength: 128, description: 'the key\'s SHA256 fingerprint ("SHA256:…", URL-encoded)' }),
});
export const UserKeyPage = Page(UserKey);
export const UserDeleteQuery = Type.Object({
  force: Type.Optional(
    Type.Boolean({ description: "true: deallocate the user's live applications (else the deletion is refused while any is live)" }),
  ),
});
export const TokenCreateBody = closed(TokenCreate);
export const TokenParams = Type.Object({ name: UserName, id: Type.String({ pattern: '^[0-9a-f]{16}$', description: "the token's id" }) });
export const TokenList = Type.Object({ items: Type.Array(TokenInfo) });
export { TokenCreated, User, UserCreated, UserKey };
