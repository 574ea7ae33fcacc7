import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import {
  isApplicationStatus,
  type Application,
  type ApplicationCreate,
  type ApplicationState,
  type PageOf,
  type Resource,
  type Task,
  type TaskCreate,
} from '../../model/index.js';
import type { ApplicationRow, NodeRow, Store } from '../../store/store.js';
import type { DriverInstance } from '../core-options.js';
import type { ApplicationQuery, Caller, PageRequest } from '../core-service.js';
import { parseDuration, parseOptionalDuration } from '../durations.js';
import { CoreError } from '../errors.js';
import type { LabelService } from '../labels/label-service.js';
import { checkMetadata } from '../labels/label-validation.js';
import type { Lifecycle } from '../lifecycle/lifecycle.js';
import { toApplication, toResource, toState, toTask } from '../mappers.js';
import type { MetaIndex } from '../meta/meta-index.js';
import { decodeCursor, encodeCursor, isNumber, isString, isTaskKey, pageLimit } from '../pagination.js';
import { unsatisfiableReason } from '../scheduler/capacity-check.js';
import type { NodeOffer } from '../scheduler/placement.js';
import { checkedFrom } from './states.js';
import type { MetadataLimits } from '../metadata-limits.js';

const UID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const now = (): string => new Date().toISOString();

export interface ApplicationServiceDeps {
  store: Store;
  log: Logger;
  node: string;
  drivers: ReadonlyMap<string, DriverInstance>;
  labels: LabelService;
  lifecycle: Lifecycle;
  meta: MetaIndex;
  liveOffers(): NodeOffer[];
  nodes(): readonly NodeRow[];
  stopping(): boolean;
  /** why this node takes no new work now (data dir full), or null */
  paused(): string | null;
  metadataLimits: MetadataLimits;
}

/** Applications, their states, resources and tasks, as their owners (and admins) see them. */
export class ApplicationService {
  readonly #store: Store;
  readonly #log: Logger;
  readonly #d: ApplicationServiceDeps;

  constructor(deps: ApplicationServiceDeps) {
    this.#d = deps;
    this.#store = deps.store;
    this.#log = deps.log;
  }

  async #visibleApp(caller: Caller, uid: string): Promise<ApplicationRow> {
    const app = UID.test(uid) ? await this.#store.getApplication(uid) : undefined;
    if (!app || (caller.role !== 'admin' && app.owner !== caller.id)) {
      throw new CoreError('NOT_FOUND', `application ${uid} not found`);
    }
    return app;
  }

  async createApplication(caller: Caller, body: ApplicationCreate): Promise<Application> {
    if (this.#d.stopping()) throw new CoreError('UNAVAILABLE', `node ${this.#d.node} is shutting down; try another node`);
    const paused = this.#d.paused();
    if (paused !== null) throw new CoreError('UNAVAILABLE', `node ${this.#d.node} takes no new work: ${paused}; try another node`);
    if (typeof body.label !== 'string' || body.label === '')
      throw new CoreError('INVALID', 'label: name the label to use', { field: 'label' });
    if (body.version !== undefined && (!Number.isInteger(body.version) || body.version < 1)) {
      throw new CoreError('INVALID', 'version: must be a whole number ≥ 1 (omit it for the latest)', { field: 'version' });
    }
    const metadata = checkMetadata(body.metadata, 'metadata', this.#d.metadataLimits);
    if (body.lifetime !== undefined) parseDuration(body.lifetime, 'lifetime');
    const label = await this.#store.findLabel(body.label, body.version ?? 'latest');
    if (!label) {
      throw new CoreError(
        'NOT_FOUND',
        body.version === undefined ? `label "${body.label}" not found` : `label "${body.label}" version ${body.version} not found`,
        { field: 'label' },
      );
    }
    const waitTimeout = body.wait_timeout ?? label.wait_timeout ?? null;
    const waitMs = parseOptionalDuration(waitTimeout, 'wait_timeout');
    const why = unsatisfiableReason(label.definitions, this.#d.liveOffers());
    if (why) throw new CoreError('UNSATISFIABLE', `label ${label.name} version ${label.version}: ${why}`);
    this.#d.labels.remember(label);
    const created_at = now();
    const { app } = await this.#store.insertApplication(
      {
        uid: randomUUID(),
        label_uid: label.uid,
        owner: caller.id,
        metadata,
        lifetime: body.lifetime ?? null,
        wait_timeout: waitTimeout,
        wait_deadline: waitMs === null ? null : new Date(Date.parse(created_at) + waitMs).toISOString(),
        created_at,
      },
      `waiting for a node with capacity (label ${label.name} version ${label.version})`,
    );
    this.#log.debug({ app: app.uid, label: label.name, version: label.version, by: caller.name }, 'application created');
    return toApplication(app);
  }

  async listApplications(caller: Caller, query: ApplicationQuery): Promise<PageOf<Application>> {
    const limit = pageLimit(query.limit);
    const before = decodeCursor(query.cursor, isNumber);
    if (query.status !== undefined && !isApplicationStatus(query.status)) {
      throw new CoreError('INVALID', 'status: one of NEW, ELECTED, ALLOCATED, DEALLOCATE, DEALLOCATED, ERROR', { field: 'status' });
    }
    const rows = await this.#store.listApplications({
      limit,
      ...(caller.role === 'admin' ? {} : { owner: caller.id }),
      ...(query.status === undefined ? {} : { status: query.status }),
      ...(before === undefined ? {} : { beforeSeq: before }),
    });
    return { items: rows.map(toApplication), ...(rows.length === limit ? { next_cursor: encodeCursor(rows.at(-1)!.seq) } : {}) };
  }

  async getApplication(caller: Caller, uid: string): Promise<Application> {
    return toApplication(await this.#visibleApp(caller, uid));
  }

  async getState(caller: Caller, uid: string): Promise<ApplicationState> {
    const app = await this.#visibleApp(caller, uid);
    return { status: app.status, description: app.status_description, created_at: app.status_at };
  }

  async listStates(caller: Caller, uid: string, page: PageRequest = {}): Promise<PageOf<ApplicationState>> {
    const limit = pageLimit(page.limit);
    const afterId = decodeCursor(page.cursor, isNumber);
    await this.#visibleApp(caller, uid);
    const rows = await this.#store.listStates(uid, { limit, ...(afterId === undefined ? {} : { afterId }) });
    return { items: rows.map(toState), ...(rows.length === limit ? { next_cursor: encodeCursor(rows.at(-1)!.id) } : {}) };
  }

  async getResource(caller: Caller, uid: string): Promise<Resource> {
    const app = await this.#visibleApp(caller, uid);
    const res = await this.#store.getResource(uid);
    if (!res) throw new CoreError('NOT_FOUND', `application ${uid} has no resource (it is ${app.status})`);
    return toResource(res);
  }

  async deallocate(caller: Caller, uid: string): Promise<{ status: 'DEALLOCATE' | 'DEALLOCATED' }> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const app = await this.#visibleApp(caller, uid);
      const by = `deallocation requested by ${caller.name}`;
      switch (app.status) {
        case 'NEW': {
          const [row] = await this.#store.transition([
            {
              uid,
              from: checkedFrom(['NEW'], 'DEALLOCATED'),
              to: 'DEALLOCATED',
              description: `${by} before any node took it`,
              at: now(),
              failPendingTasks: 'the application was never allocated',
            },
          ]);
          if (row) return { status: 'DEALLOCATED' };
          continue; // a node just claimed it: look again
        }
        case 'ELECTED':
        case 'ALLOCATED': {
          const local = app.node === this.#d.node;
          const [row] = await this.#store.transition(
            [
              {
                uid,
                from: checkedFrom([app.status], 'DEALLOCATE'),
                to: 'DEALLOCATE',
                description: app.status === 'ELECTED' ? `${by} while allocating; the allocation will be undone` : by,
                at: now(),
              },
            ],
            local || !app.node ? [] : [{ kind: 'work', node: app.node }],
          );
          if (!row) continue;
          if (local) {
            this.#d.meta.remove(uid);
            this.#d.lifecycle.deallocate(uid);
          }
          return { status: 'DEALLOCATE' };
        }
        case 'DEALLOCATE':
          return { status: 'DEALLOCATE' };
        case 'DEALLOCATED':
          return { status: 'DEALLOCATED' };
        case 'ERROR':
          throw new CoreError('CONFLICT', `application ${uid} is in ERROR (${app.status_description}); there is nothing to deallocate`);
      }
    }
    throw new CoreError('CONFLICT', `application ${uid} keeps changing state; try again`);
  }

  async listTasks(caller: Caller, uid: string, page: PageRequest = {}): Promise<PageOf<Task>> {
    const limit = pageLimit(page.limit);
    const after = decodeCursor(page.cursor, isTaskKey);
    await this.#visibleApp(caller, uid);
    const rows = await this.#store.listTasks(uid, { limit, ...(after === undefined ? {} : { after }) });
    const last = rows.at(-1);
    return {
      items: rows.map(toTask),
      ...(rows.length === limit && last ? { next_cursor: encodeCursor({ created_at: last.created_at, uid: last.uid }) } : {}),
    };
  }

  async createTask(caller: Caller, uid: string, body: TaskCreate): Promise<Task> {
    const app = await this.#visibleApp(caller, uid);
    if (body.task !== 'snapshot') throw new CoreError('INVALID', 'task: the only task is "snapshot"', { field: 'task' });
    const when = body.when ?? 'NOW';
    if (when !== 'NOW' && when !== 'DEALLOCATE') throw new CoreError('INVALID', 'when: "NOW" or "DEALLOCATE"', { field: 'when' });
    const full = body.options?.full;
    if (full !== undefined && typeof full !== 'boolean')
      throw new CoreError('INVALID', 'options.full: true or false', { field: 'options.full' });
    if (when === 'NOW' && app.status !== 'ALLOCATED') {
      throw new CoreError('CONFLICT', `a snapshot NOW needs an ALLOCATED application; ${uid} is ${app.status}`);
    }
    if (when === 'DEALLOCATE' && !['NEW', 'ELECTED', 'ALLOCATED'].includes(app.status)) {
      throw new CoreError('CONFLICT', `application ${uid} is ${app.status}; a task at deallocation can no longer be added`);
    }
    const at = now();
    const task = {
      uid: randomUUID(),
      application_uid: uid,
      owner: app.owner,
      task: 'snapshot' as const,
      options: full === undefined ? {} : { full },
      when,
      status: 'PENDING' as const,
      result: '',
      created_at: at,
      updated_at: at,
    };
    const local = app.node === this.#d.node;
    await this.#store.insertTask(task, when === 'NOW' && !local && app.node ? [{ kind: 'work', node: app.node }] : []);
    if (when === 'NOW' && local) {
      const res = await this.#store.getResource(uid);
      if (res) this.#d.lifecycle.runTaskNow(task, res);
    }
    return toTask(task);
  }

  async getConsole(caller: Caller, uid: string): Promise<string> {
    await this.#visibleApp(caller, uid);
    const res = await this.#store.getResource(uid);
    if (!res) throw new CoreError('NOT_FOUND', `application ${uid} has no resource`);
    if (res.node !== this.#d.node) {
      const other = this.#d.nodes().find((n) => n.name === res.node);
      throw new CoreError('UNAVAILABLE', `the resource runs on node ${res.node}; ask that node${other ? ` (${other.address})` : ''}`);
    }
    const inst = this.#d.drivers.get(res.driver);
    if (!inst?.driver.console) throw new CoreError('NOT_FOUND', `driver ${res.driver} keeps no console output`);
    return inst.driver.console(res.hwaddr);
  }

  async listResources(caller: Caller, page: PageRequest): Promise<PageOf<Resource>> {
    const limit = pageLimit(page.limit);
    const after = decodeCursor(page.cursor, isString);
    const rows = await this.#store.listResources({
      limit,
      ...(caller.role === 'admin' ? {} : { owner: caller.id }),
      ...(after === undefined ? {} : { after }),
    });
    return {
      items: rows.map(toResource),
      ...(rows.length === limit ? { next_cursor: encodeCursor(rows.at(-1)!.application_uid) } : {}),
    };
  }
}
