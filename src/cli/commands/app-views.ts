import type { ShoalClient } from '../../client/index.js';
import type { AccessSession, Application, ApplicationState, Resource, Task } from '../../model/index.js';
import { display, formatAge, formatKeyValues, formatTable, formatTime } from '../output.js';

/** label uid → "name:version" for the labels of these applications (unknown ones stay uids). */
export async function labelNames(client: ShoalClient, apps: readonly Application[]): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  const uids = [...new Set(apps.map((a) => a.label_uid))];
  await Promise.all(
    uids.map(async (uid) => {
      try {
        const l = await client.getLabel(uid);
        names.set(uid, `${l.name}:${l.version}`);
      } catch {
        names.set(uid, uid);
      }
    }),
  );
  return names;
}

export function appTable(apps: readonly Application[], labels: ReadonlyMap<string, string>, now = Date.now()): string {
  return formatTable(
    ['uid', 'label', 'status', 'owner', 'created', 'description'],
    apps.map((a) => [
      a.uid,
      labels.get(a.label_uid) ?? a.label_uid,
      a.state.status,
      a.owner,
      formatAge(a.created_at, now),
      display(a.state.description),
    ]),
  );
}

export function appDetails(a: Application, labelName: string | undefined, now = Date.now()): string {
  const rows: Array<readonly [string, unknown]> = [
    ['uid', a.uid],
    ['label', labelName !== undefined ? `${labelName} (${a.label_uid})` : a.label_uid],
    ['owner', a.owner],
    ['status', a.state.status],
    ['description', a.state.description],
    ['since', formatTime(a.state.created_at, now)],
    ['created', formatTime(a.created_at, now)],
  ];
  if (a.lifetime !== undefined) rows.push(['lifetime', a.lifetime]);
  rows.push(['metadata', Object.keys(a.metadata).length > 0 ? a.metadata : undefined]);
  return formatKeyValues(rows);
}

export function statesTable(states: readonly ApplicationState[]): string {
  return formatTable(
    ['status', 'at', 'description'],
    states.map((s) => [s.status, s.created_at, display(s.description)]),
  );
}

export function stateLine(s: ApplicationState, now = Date.now()): string {
  return formatKeyValues([
    ['status', s.status],
    ['description', s.description],
    ['since', formatTime(s.created_at, now)],
  ]);
}

export function resourceDetails(r: Resource, now = Date.now()): string {
  return formatKeyValues([
    ['application', r.application_uid],
    ['node', r.node],
    ['driver', `${r.driver} (definition ${r.definition_index})`],
    ['hwaddr', r.hwaddr],
    ['ipaddr', r.ipaddr],
    ['expires', formatTime(r.expires_at, now)],
    ['allocated', formatTime(r.created_at, now)],
    ['metadata', Object.keys(r.metadata).length > 0 ? r.metadata : undefined],
  ]);
}

export function taskTable(tasks: readonly Task[]): string {
  return formatTable(
    ['uid', 'task', 'when', 'status', 'result'],
    tasks.map((t) => [t.uid, `${t.task}${t.options.full ? ' (full)' : ''}`, t.when, t.status, display(t.result)]),
  );
}

/** Access sessions: who, from where, what, when, how it ended, bytes each way. */
export function sessionTable(sessions: readonly AccessSession[], now = Date.now()): string {
  return formatTable(
    ['started', 'user', 'via', 'kind', 'source', 'ended', 'exit', 'bytes in', 'bytes out'],
    sessions.map((x) => [
      formatAge(x.started_at, now),
      x.user,
      x.via,
      x.kind,
      x.source,
      x.ended_at === null ? 'running' : formatAge(x.ended_at, now),
      x.exit_status === null ? '-' : String(x.exit_status),
      String(x.bytes_in),
      String(x.bytes_out),
    ]),
  );
}
