import type { Application, ApplicationState, Label, LabelDefinition, LabelNameOwner, Resource, Task, User } from '../model/index.js';
import type { ApplicationRow, LabelNameRow, LabelRow, ResourceRow, StateRow, TaskRow, UserRow } from '../store/store.js';
import { userNameOf } from './users/user-ids.js';

/** Store rows → the API's wire shapes (src/model). Owner columns hold user ids: `owner` shows the name, `owner_id` the id. */

export function toUser(u: UserRow): User {
  return { name: u.name, id: u.id, role: u.role, created_at: u.created_at };
}

export function toLabel(l: LabelRow): Label {
  return {
    uid: l.uid,
    name: l.name,
    version: l.version,
    definitions: l.definitions as unknown as LabelDefinition[],
    metadata: l.metadata,
    ...(l.lifetime ? { lifetime: l.lifetime } : {}),
    ...(l.wait_timeout ? { wait_timeout: l.wait_timeout } : {}),
    owner: userNameOf(l.owner),
    owner_id: l.owner,
    ...(l.published_by !== l.owner ? { published_by: userNameOf(l.published_by) } : {}),
    created_at: l.created_at,
  };
}

export function toLabelNameOwner(n: LabelNameRow): LabelNameOwner {
  return { name: n.name, owner: userNameOf(n.owner), owner_id: n.owner, created_at: n.created_at };
}

export function toApplication(a: ApplicationRow): Application {
  return {
    uid: a.uid,
    label_uid: a.label_uid,
    owner: userNameOf(a.owner),
    owner_id: a.owner,
    metadata: a.metadata,
    ...(a.lifetime ? { lifetime: a.lifetime } : {}),
    created_at: a.created_at,
    state: { status: a.status, description: a.status_description, created_at: a.status_at },
  };
}

export function toState(s: StateRow): ApplicationState {
  return { status: s.status, description: s.description, created_at: s.created_at };
}

export function toResource(r: ResourceRow): Resource {
  return {
    application_uid: r.application_uid,
    node: r.node,
    driver: r.driver,
    definition_index: r.definition_index,
    hwaddr: r.hwaddr,
    ipaddr: r.ipaddr,
    metadata: r.metadata,
    expires_at: r.expires_at,
    created_at: r.created_at,
  };
}

export function toTask(t: TaskRow): Task {
  return {
    uid: t.uid,
    application_uid: t.application_uid,
    task: t.task,
    options: t.options,
    when: t.when,
    status: t.status,
    result: t.result,
    created_at: t.created_at,
  };
}
