import type { Kysely, Migration } from 'kysely';

/** The initial schema. Dialect-neutral: only types both SQLite and PostgreSQL understand. */
export const migration001Initial: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('shoal_counters')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('value', 'bigint', (c) => c.notNull())
      .execute();
    await db
      .insertInto('shoal_counters' as never)
      .values({ name: 'events', value: 0 })
      .execute();

    await db.schema
      .createTable('users')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('role', 'text', (c) => c.notNull())
      .addColumn('token_id', 'text', (c) => c.notNull().unique())
      .addColumn('token_hash', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('labels')
      .addColumn('uid', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('definitions', 'text', (c) => c.notNull())
      .addColumn('metadata', 'text', (c) => c.notNull())
      .addColumn('lifetime', 'text')
      .addColumn('wait_timeout', 'text')
      .addColumn('owner', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('deleted_at', 'text')
      .addUniqueConstraint('labels_name_version', ['name', 'version'])
      .execute();

    await db.schema
      .createTable('applications')
      .addColumn('uid', 'text', (c) => c.primaryKey())
      .addColumn('seq', 'bigint', (c) => c.notNull())
      .addColumn('label_uid', 'text', (c) => c.notNull())
      .addColumn('owner', 'text', (c) => c.notNull())
      .addColumn('metadata', 'text', (c) => c.notNull())
      .addColumn('lifetime', 'text')
      .addColumn('wait_timeout', 'text')
      .addColumn('wait_deadline', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('status_description', 'text', (c) => c.notNull())
      .addColumn('status_at', 'text', (c) => c.notNull())
      .addColumn('node', 'text')
      .addColumn('driver', 'text')
      .addColumn('definition_index', 'integer', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull())
      .addColumn('cpu', 'integer', (c) => c.notNull())
      .addColumn('ram', 'integer', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('applications_status_seq').on('applications').columns(['status', 'seq']).execute();
    await db.schema.createIndex('applications_node_status').on('applications').columns(['node', 'status']).execute();
    await db.schema.createIndex('applications_owner_seq').on('applications').columns(['owner', 'seq']).execute();
    await db.schema.createIndex('applications_status_wait').on('applications').columns(['status', 'wait_deadline']).execute();

    await db.schema
      .createTable('application_states')
      .addColumn('id', 'bigint', (c) => c.primaryKey())
      .addColumn('application_uid', 'text', (c) => c.notNull())
      .addColumn('owner', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('description', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('application_states_app_id').on('application_states').columns(['application_uid', 'id']).execute();
    await db.schema.createIndex('application_states_owner_id').on('application_states').columns(['owner', 'id']).execute();

    await db.schema
      .createTable('resources')
      .addColumn('application_uid', 'text', (c) => c.primaryKey())
      .addColumn('owner', 'text', (c) => c.notNull())
      .addColumn('node', 'text', (c) => c.notNull())
      .addColumn('driver', 'text', (c) => c.notNull())
      .addColumn('definition_index', 'integer', (c) => c.notNull())
      .addColumn('hwaddr', 'text', (c) => c.notNull())
      .addColumn('ipaddr', 'text', (c) => c.notNull())
      .addColumn('metadata', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('resources_node_expires').on('resources').columns(['node', 'expires_at']).execute();
    await db.schema.createIndex('resources_owner').on('resources').columns(['owner', 'application_uid']).execute();

    await db.schema
      .createTable('tasks')
      .addColumn('uid', 'text', (c) => c.primaryKey())
      .addColumn('application_uid', 'text', (c) => c.notNull())
      .addColumn('owner', 'text', (c) => c.notNull())
      .addColumn('task', 'text', (c) => c.notNull())
      .addColumn('options', 'text', (c) => c.notNull())
      .addColumn('run_when', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('result', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('tasks_app').on('tasks').columns(['application_uid', 'created_at']).execute();
    await db.schema.createIndex('tasks_status').on('tasks').columns(['status', 'run_when']).execute();

    await db.schema
      .createTable('nodes')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('address', 'text', (c) => c.notNull())
      .addColumn('cpu', 'double precision', (c) => c.notNull())
      .addColumn('ram', 'double precision', (c) => c.notNull())
      .addColumn('cpu_overbook', 'double precision', (c) => c.notNull())
      .addColumn('ram_overbook', 'double precision', (c) => c.notNull())
      .addColumn('tags', 'text', (c) => c.notNull())
      .addColumn('drivers', 'text', (c) => c.notNull())
      .addColumn('heartbeat_at', 'text', (c) => c.notNull())
      .addColumn('started_at', 'text', (c) => c.notNull())
      .addColumn('maintenance', 'integer', (c) => c.notNull())
      .execute();
  },

  async down(db: Kysely<unknown>): Promise<void> {
    for (const t of ['nodes', 'tasks', 'resources', 'application_states', 'applications', 'labels', 'users', 'shoal_counters']) {
      await db.schema.dropTable(t).ifExists().execute();
    }
  },
};
