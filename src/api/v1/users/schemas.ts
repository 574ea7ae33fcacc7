import { Type } from '@sinclair/typebox';
import { Page, User, UserCreate, UserCreated, UserKey, UserKeyCreate, UserName } from '../../../model/index.js';
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
export { User, UserCreated, UserKey };
