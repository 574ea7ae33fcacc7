import { Page, Resource } from '../../../model/index.js';

export const ResourcePage = Page(Resource);
