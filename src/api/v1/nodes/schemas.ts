import { Type } from '@sinclair/typebox';
import { NodeForgotten, NodeInfo, Page, StoredItem } from '../../../model/index.js';
import { closed } from '../../closed-schema.js';

export const NodePage = Page(NodeInfo);
export const MaintenanceBody = closed(
  Type.Object({ enabled: Type.Boolean({ description: 'true: stop taking new work (running resources stay); false: resume' }) }),
);
export const NodeNameParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 63, description: 'a node name' }) });
export const StoredItemList = Type.Array(StoredItem);
export const StoredItemParams = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 63, description: 'a node name (this node; "this" works too)' }),
  id: Type.String({ minLength: 1, maxLength: 512, description: "the item's id as listed" }),
});
export const StoredItemQuery = Type.Object({
  driver: Type.Optional(
    Type.String({ minLength: 1, maxLength: 128, description: 'the driver instance keeping it (needed only when ids repeat)' }),
  ),
});
export const DatabaseBackup = Type.String({
  description:
    'the SQLite database file (application/vnd.sqlite3), a consistent copy taken while the node serves; restore: stop the node, put it in place of DATA_DIR/shoal.db (docs/operations.md)',
});
export { NodeForgotten, NodeInfo };
