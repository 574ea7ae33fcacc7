import { Type } from '@sinclair/typebox';
import { Label, LabelCreate, LabelName, LabelNameOwner, LabelOwnerSet, Page, PageQuery } from '../../../model/index.js';
import { closed } from '../../closed-schema.js';

export const LabelCreateBody = closed(LabelCreate);
export const LabelListQuery = Type.Object({
  ...PageQuery.properties,
  name: Type.Optional(LabelName),
  version: Type.Optional(
    Type.Union([Type.Integer({ minimum: 1 }), Type.Literal('latest')], { description: 'a version number, or "latest" (per name)' }),
  ),
});
export const LabelPage = Page(Label);
export const LabelNameParams = Type.Object({ name: LabelName });
export const LabelOwnerSetBody = closed(LabelOwnerSet);
export { Label, LabelNameOwner };
