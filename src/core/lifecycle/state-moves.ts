import type { Logger } from 'pino';
import type { ApplicationStatus } from '../../model/index.js';
import type { ApplicationPatch, ApplicationRow, LabelRow, ResourceRow, StateRow, Store, StoreSignal } from '../../store/store.js';
import { checkedFrom } from '../applications/states.js';
import type { CoreLimits } from '../core-options.js';
import { now } from './lifecycle-deps.js';
import { TransitionBatcher } from './transition-batcher.js';

/** how often a state change is tried when the store fails (about 6 s in all) */
export const MOVE_ATTEMPTS = 6;

export interface MoveExtra {
  set?: ApplicationPatch;
  ifStatusAt?: string;
  insertResource?: ResourceRow;
  deleteResource?: boolean;
  failPendingTasks?: string;
}

/** A failed (or interrupted) allocation attempt, for the retry-or-ERROR rule. */
export interface FailedAttempt {
  /** the ERROR description, given the attempts so far */
  error(attempts: number): string;
  /** the NEW description, given the attempts so far, the limit and the definition tried next */
  retry(attempts: number, limit: number, next: number): string;
  /** go on with the label's next definition (a failure) or the same one (an interruption) */
  nextDefinition: boolean;
}

/** State changes of this node's applications: group-committed, retried when the store fails. */
export class StateMoves {
  readonly #batch: TransitionBatcher;
  readonly #node: string;
  readonly #log: Logger;
  readonly #limits: CoreLimits;

  constructor(store: Store, node: string, log: Logger, limits: CoreLimits) {
    this.#batch = new TransitionBatcher(store);
    this.#node = node;
    this.#log = log;
    this.#limits = limits;
  }

  /**
   * A conditional transition of an application of this node, group-committed; null if it no longer
   * holds. A store error (database briefly unreachable…) is retried with backoff: a transition that
   * is lost would leave a resource nobody tracks. Throws after MOVE_ATTEMPTS failures.
   */
  async move(
    uid: string,
    from: readonly ApplicationStatus[],
    to: ApplicationStatus,
    description: string,
    extra: MoveExtra = {},
    signals: readonly StoreSignal[] = [],
  ): Promise<StateRow | null> {
    checkedFrom(from, to);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#batch.submit({ uid, from, to, description, at: now(), onlyNode: this.#node, ...extra }, signals);
      } catch (err) {
        if (attempt >= MOVE_ATTEMPTS) throw err;
        this.#log.warn({ app: uid, to, attempt, err: (err as Error).message }, 'recording a state change failed; retrying');
        await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
      }
    }
  }

  /**
   * The retry-or-ERROR rule for an ELECTED application whose allocation failed or was interrupted:
   * back to NEW (and the queue) until it has failed max(allocateRetries, definitions) times, then ERROR.
   */
  retryOrError(app: ApplicationRow, label: LabelRow, attempt: FailedAttempt): Promise<StateRow | null> {
    const attempts = app.attempts + 1;
    const limit = Math.max(this.#limits.allocateRetries, label.definitions.length);
    if (attempts >= limit) {
      return this.move(
        app.uid,
        ['ELECTED'],
        'ERROR',
        attempt.error(attempts),
        { set: { attempts }, failPendingTasks: 'the application was never allocated' },
        [{ kind: 'queue', node: this.#node }],
      );
    }
    const next = attempt.nextDefinition ? (app.definition_index + 1) % label.definitions.length : app.definition_index;
    return this.move(
      app.uid,
      ['ELECTED'],
      'NEW',
      attempt.retry(attempts, limit, next),
      { set: { node: null, driver: null, ...(attempt.nextDefinition ? { definition_index: next } : {}), attempts, cpu: 0, ram: 0 } },
      [{ kind: 'queue' }],
    );
  }
}
