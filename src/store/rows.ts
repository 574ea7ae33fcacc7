import type { ApplicationStatus } from '../model/index.js';
import type {
  ApplicationsTable,
  ApplicationStatesTable,
  LabelsTable,
  NodesTable,
  ResourcesTable,
  TasksTable,
  UsersTable,
} from './schema.js';
import type {
  ApplicationRow,
  LabelDefinitionRecord,
  LabelRow,
  NodeRow,
  ResourceRow,
  Role,
  StateRow,
  TaskRow,
  TaskStatus,
  TaskWhen,
  UserRow,
} from './types.js';

/** Conversions between table rows (TEXT JSON, INTEGER booleans) and the store's row types. */

function json<T>(text: string): T {
  return JSON.parse(text) as T;
}

export function userFromDb(r: UsersTable): UserRow {
  return { id: r.id, name: r.name, role: r.role as Role, created_at: r.created_at };
}

export function labelFromDb(r: LabelsTable): LabelRow {
  return {
    uid: r.uid,
    name: r.name,
    version: Number(r.version),
    definitions: json<LabelDefinitionRecord[]>(r.definitions),
    metadata: json<Record<string, unknown>>(r.metadata),
    lifetime: r.lifetime,
    wait_timeout: r.wait_timeout,
    owner: r.owner,
    created_at: r.created_at,
    deleted_at: r.deleted_at,
    published_by: r.published_by ?? r.owner,
  };
}

export function applicationFromDb(r: ApplicationsTable): ApplicationRow {
  return {
    uid: r.uid,
    seq: Number(r.seq),
    label_uid: r.label_uid,
    owner: r.owner,
    metadata: json<Record<string, unknown>>(r.metadata),
    lifetime: r.lifetime,
    wait_timeout: r.wait_timeout,
    wait_deadline: r.wait_deadline,
    created_at: r.created_at,
    status: r.status as ApplicationStatus,
    status_description: r.status_description,
    status_at: r.status_at,
    node: r.node,
    driver: r.driver,
    definition_index: Number(r.definition_index),
    attempts: Number(r.attempts),
    cpu: Number(r.cpu),
    ram: Number(r.ram),
  };
}

export function applicationToDb(a: ApplicationRow): ApplicationsTable {
  return { ...a, metadata: JSON.stringify(a.metadata) };
}

export function stateFromDb(r: ApplicationStatesTable): StateRow {
  return {
    id: Number(r.id),
    application_uid: r.application_uid,
    owner: r.owner,
    status: r.status as ApplicationStatus,
    description: r.description,
    created_at: r.created_at,
  };
}

export function resourceFromDb(r: ResourcesTable): ResourceRow {
  return {
    application_uid: r.application_uid,
    owner: r.owner,
    node: r.node,
    driver: r.driver,
    definition_index: Number(r.definition_index),
    hwaddr: r.hwaddr,
    ipaddr: r.ipaddr,
    metadata: json<Record<string, unknown>>(r.metadata),
    expires_at: r.expires_at,
    created_at: r.created_at,
  };
}

export function resourceToDb(r: ResourceRow): ResourcesTable {
  return { ...r, metadata: JSON.stringify(r.metadata) };
}

export function taskFromDb(r: TasksTable): TaskRow {
  return {
    uid: r.uid,
    application_uid: r.application_uid,
    owner: r.owner,
    task: r.task as 'snapshot',
    options: json<{ full?: boolean }>(r.options),
    when: r.run_when as TaskWhen,
    status: r.status as TaskStatus,
    result: r.result,
    created_at: r.created_at,
    updated_at: r.updated_at,
  };
}

export function taskToDb(t: TaskRow): TasksTable {
  return {
    uid: t.uid,
    application_uid: t.application_uid,
    owner: t.owner,
    task: t.task,
    options: JSON.stringify(t.options),
    run_when: t.when,
    status: t.status,
    result: t.result,
    created_at: t.created_at,
    updated_at: t.updated_at,
  };
}

export function nodeFromDb(r: NodesTable): NodeRow {
  return {
    name: r.name,
    address: r.address,
    cpu: Number(r.cpu),
    ram: Number(r.ram),
    cpu_overbook: Number(r.cpu_overbook),
    ram_overbook: Number(r.ram_overbook),
    tags: json<Record<string, string>>(r.tags),
    drivers: json<NodeRow['drivers']>(r.drivers),
    heartbeat_at: r.heartbeat_at,
    started_at: r.started_at,
    maintenance: Number(r.maintenance) !== 0,
    lost_at: r.lost_at ?? null,
  };
}

export function nodeToDb(n: NodeRow): NodesTable {
  return {
    ...n,
    tags: JSON.stringify(n.tags),
    drivers: JSON.stringify(n.drivers),
    maintenance: n.maintenance ? 1 : 0,
  };
}
