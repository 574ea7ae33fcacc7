import { Type } from '@sinclair/typebox';
import { Page, User, UserCreate, UserCreated, UserName } from '../../../model/index.js';
import { closed } from '../../closed-schema.js';

export const UserCreateBody = closed(UserCreate);
export const UserNameParams = Type.Object({ name: UserName });
export const UserPage = Page(User);
export { User, UserCreated };
