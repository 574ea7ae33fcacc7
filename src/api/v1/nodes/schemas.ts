import { Type } from '@sinclair/typebox';
import { NodeForgotten, NodeInfo, Page } from '../../../model/index.js';
import { closed } from '../../closed-schema.js';

export const NodePage = Page(NodeInfo);
export const MaintenanceBody = closed(
  Type.Object({ enabled: Type.Boolean({ description: 'true: stop taking new work (running resources stay); false: resume' }) }),
);
export const NodeNameParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 63, description: 'a node name' }) });
export { NodeForgotten, NodeInfo };
