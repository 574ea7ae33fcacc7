import { randomUUID } from 'node:crypto';
import type { Duplex, Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { ExecProcess, ExecRequest, ResourceAccess } from '../../contract/index.js';
import type { StateEvent } from '../../model/index.js';
import type { Store } from '../../store/store.js';
import type { DriverInstance } from '../core-options.js';
import type { Caller } from '../core-service.js';
import { CoreError } from '../errors.js';

const UID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const now = (): string => new Date().toISOString();

/** How a session came in. */
export type AccessVia = 'ssh' | 'api';
export type AccessSessionKind = 'shell' | 'exec' | 'sftp' | 'port-forward' | 'console' | 'copy-in' | 'copy-out';

/** One recorded session: count its bytes, then finish it once. */
export interface AccessSessionRecord {
  readonly id: string;
  countIn(bytes: number): void;
  countOut(bytes: number): void;
  /** records the end (idempotent); the exit status when there was one */
  finish(exitStatus: number | null): void;
}

/** An application's environment, opened for one caller: its access part bound to its resource. */
export interface AccessTarget {
  readonly uid: string;
  /** the resource's own address (a port-forward may name it besides localhost) */
  readonly ipaddr: string;
  /** aborted when the application leaves ALLOCATED (deallocated, expired) or the node stops */
  readonly ended: AbortSignal;
  exec(request: ExecRequest): Promise<ExecProcess>;
  connectPort(port: number): Promise<Duplex>;
  copyIn(dir: string, archive: Readable): Promise<void>;
  copyOut(path: string): Promise<Readable>;
  /** starts recording a session (who: the caller; from: `source`) */
  record(kind: AccessSessionKind, via: AccessVia, source: string): AccessSessionRecord;
}

export interface AccessServiceDeps {
  store: Store;
  log: Logger;
  node: string;
  drivers: ReadonlyMap<string, DriverInstance>;
  /** live state events of every application (the caller is an internal admin) */
  subscribe(onEvent: (event: StateEvent) => void): () => void;
}

/**
 * Who may enter which environment, and the sessions that are in: the owner and admins get an
 * ALLOCATED application of this node; anything else — unknown, someone else's, not ALLOCATED,
 * elsewhere — is the same NOT_FOUND. Sessions are recorded in the store and cut when their
 * application leaves ALLOCATED.
 */
export class AccessService {
  readonly #d: AccessServiceDeps;
  /** uid → the abort controllers of its open targets */
  readonly #open = new Map<string, Set<AbortController>>();
  #unsubscribe: (() => void) | undefined;
  #stopped = false;

  constructor(deps: AccessServiceDeps) {
    this.#d = deps;
  }

  #refusal(uid: string): CoreError {
    return new CoreError('NOT_FOUND', `application ${uid.slice(0, 64)} not found (or not ALLOCATED on this node)`);
  }

  async openAccess(caller: Caller, uid: string): Promise<AccessTarget> {
    if (this.#stopped) throw new CoreError('UNAVAILABLE', 'the node is shutting down');
    if (!UID.test(uid)) throw this.#refusal(uid);
    // watch before looking: a deallocation committed after the look is seen
    const controller = new AbortController();
    this.#watch(uid, controller);
    try {
      const app = await this.#d.store.getApplication(uid);
      if (!app || (caller.role !== 'admin' && app.owner !== caller.id) || app.status !== 'ALLOCATED' || app.node !== this.#d.node) {
        throw this.#refusal(uid);
      }
      const res = await this.#d.store.getResource(uid);
      if (!res || res.node !== this.#d.node) throw this.#refusal(uid);
      const access = this.#d.drivers.get(res.driver)?.driver.access;
      if (!access) throw new CoreError('CONFLICT', `driver ${res.driver} has no way into its resources (no shell, exec, ports or files)`);
      return this.#target(caller, uid, res.hwaddr, res.ipaddr, access, controller);
    } catch (err) {
      this.#unwatch(uid, controller);
      throw err;
    }
  }

  #target(caller: Caller, uid: string, hwaddr: string, ipaddr: string, access: ResourceAccess, controller: AbortController): AccessTarget {
    const ended = controller.signal;
    ended.addEventListener('abort', () => this.#unwatch(uid, controller), { once: true });
    return {
      uid,
      ipaddr,
      ended,
      exec: (request) => access.exec(hwaddr, request),
      connectPort: (port) => access.connectPort(hwaddr, port),
      copyIn: (dir, archive) => access.copyIn(hwaddr, dir, archive),
      copyOut: (path) => access.copyOut(hwaddr, path),
      record: (kind, via, source) => this.#record(caller, uid, kind, via, source),
    };
  }

  /** Stops watching an opened target (its connection ended). */
  release(target: AccessTarget): void {
    const set = this.#open.get(target.uid);
    if (!set) return;
    for (const c of set) {
      if (c.signal === target.ended) this.#unwatch(target.uid, c);
    }
  }

  #record(caller: Caller, uid: string, kind: AccessSessionKind, via: AccessVia, source: string): AccessSessionRecord {
    const id = randomUUID();
    let bytesIn = 0;
    let bytesOut = 0;
    let finished = false;
    const log = this.#d.log;
    const started = this.#d.store
      .insertSession({
        id,
        application_uid: uid,
        user_name: caller.name,
        source,
        via,
        kind,
        node: this.#d.node,
        started_at: now(),
        ended_at: null,
        exit_status: null,
        bytes_in: 0,
        bytes_out: 0,
      })
      .then(
        () => true,
        (err: Error) => {
          log.error({ err: err.message, application: uid, session: id }, 'cannot record an access session');
          return false;
        },
      );
    log.info({ application: uid, session: id, user: caller.name, source, via, kind }, 'access session started');
    return {
      id,
      countIn: (n) => void (bytesIn += n),
      countOut: (n) => void (bytesOut += n),
      finish: (exitStatus) => {
        if (finished) return;
        finished = true;
        const end = { ended_at: now(), exit_status: exitStatus, bytes_in: bytesIn, bytes_out: bytesOut };
        log.info(
          { application: uid, session: id, exit_status: exitStatus, bytes_in: bytesIn, bytes_out: bytesOut },
          'access session ended',
        );
        void started.then(async (ok) => {
          if (!ok) return;
          await this.#d.store.finishSession(id, end).catch((err: Error) => {
            log.error({ err: err.message, application: uid, session: id }, 'cannot record the end of an access session');
          });
        });
      },
    };
  }

  #watch(uid: string, c: AbortController): void {
    let set = this.#open.get(uid);
    if (!set) this.#open.set(uid, (set = new Set()));
    set.add(c);
    this.#unsubscribe ??= this.#d.subscribe((e) => {
      if (e.status !== 'ALLOCATED') this.#cut(e.application_uid, `the application is ${e.status}`);
    });
  }

  #unwatch(uid: string, c: AbortController): void {
    const set = this.#open.get(uid);
    if (!set) return;
    set.delete(c);
    if (set.size === 0) this.#open.delete(uid);
    if (this.#open.size === 0 && this.#unsubscribe) {
      this.#unsubscribe();
      this.#unsubscribe = undefined;
    }
  }

  #cut(uid: string, reason: string): void {
    const set = this.#open.get(uid);
    if (!set) return;
    this.#d.log.info({ application: uid, sessions: set.size, reason }, 'access sessions cut');
    for (const c of [...set]) c.abort(new CoreError('NOT_FOUND', reason));
  }

  /** The node stops: every session is cut. */
  stop(): void {
    this.#stopped = true;
    for (const uid of [...this.#open.keys()]) this.#cut(uid, 'the node is shutting down');
  }
}
