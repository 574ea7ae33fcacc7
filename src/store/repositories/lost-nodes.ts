import { readDbNow } from '../db-clock.js';
import type { Tx } from '../transactions.js';
import type { StateRow } from '../types.js';
import type { RepositoryContext } from './context.js';

/** What ending a node's work did (see LostNodesRepository). */
export interface NodeWorkEnded {
  /** the database's time the node was declared lost / forgotten (in every state description) */
  lostAt: string;
  /** ELECTED applications put back in the queue */
  requeued: number;
  /** ALLOCATED applications moved to ERROR */
  failed: number;
  /** DEALLOCATE applications moved to DEALLOCATED */
  deallocated: number;
}

/** Refusals of forgetNode. */
export type ForgetRefusal = { refused: 'unknown' } | { refused: 'alive'; heartbeatAt: string };

/**
 * Nodes that stopped answering for good. Both methods judge time by the database's clock (never
 * the calling node's) and end the node's work in one transaction with its row locked: ELECTED
 * applications go back to NEW, ALLOCATED ones to ERROR and DEALLOCATE ones to DEALLOCATED, each
 * saying "node X lost at …"; their resource rows are deleted (the node removes what is left on its
 * host when it comes back: those resources are orphans to it then), their PENDING tasks fail, and
 * the capacity they held is released.
 */
export interface LostNodesRepository {
  /**
   * Declares `node` lost if it has not been declared lost yet and its heartbeat is older than
   * `silentMs` by the database's clock; returns undefined when it was not (it answers again, it
   * is already lost, or it does not exist).
   */
  declareNodeLost(node: string, silentMs: number): Promise<NodeWorkEnded | undefined>;
  /**
   * An admin's `node forget`: ends the node's work as if it was lost and deletes its row. Refused
   * for an unknown node and for one whose heartbeat is younger than `aliveWithinMs`.
   */
  forgetNode(node: string, aliveWithinMs: number): Promise<NodeWorkEnded | ForgetRefusal>;
  /** Clears `lost_at` of a node that reconciled its host after coming back. */
  clearLost(node: string): Promise<void>;
  /** The database's clock now (ISO 8601 UTC). */
  dbNow(): Promise<string>;
}

const minus = (iso: string, ms: number): string => new Date(Date.parse(iso) - ms).toISOString();
const CHUNK = 400;

export function lostNodesRepository({ db, capabilities, tx, dialect }: RepositoryContext): LostNodesRepository {
  const lockNode = async (trx: Tx, node: string) => {
    let q = trx.selectFrom('nodes').select(['name', 'heartbeat_at', 'lost_at']).where('name', '=', node);
    if (capabilities.rowLocks) q = q.forUpdate();
    return q.executeTakeFirst();
  };

  const endWork = async (trx: Tx, node: string, heartbeatAt: string, at: string, why: string) => {
    const lost = `node ${node} lost at ${at} (${why}; last heartbeat ${heartbeatAt})`;
    const requeue = `${lost}; waiting for another node`;
    const failed = `${lost}; whatever is left of its resource is removed when the node comes back`;
    const ended = `deallocated: ${lost}; whatever is left of its resource is removed when the node comes back`;
    const moved = await trx
      .updateTable('applications')
      .set({ status: 'NEW', status_description: requeue, status_at: at, node: null, driver: null, cpu: 0, ram: 0 })
      .where('node', '=', node)
      .where('status', '=', 'ELECTED')
      .returning(['uid', 'owner'])
      .execute();
    const errored = await trx
      .updateTable('applications')
      .set({ status: 'ERROR', status_description: failed, status_at: at, cpu: 0, ram: 0 })
      .where('node', '=', node)
      .where('status', '=', 'ALLOCATED')
      .returning(['uid', 'owner'])
      .execute();
    const finished = await trx
      .updateTable('applications')
      .set({ status: 'DEALLOCATED', status_description: ended, status_at: at, cpu: 0, ram: 0 })
      .where('node', '=', node)
      .where('status', '=', 'DEALLOCATE')
      .returning(['uid', 'owner'])
      .execute();
    await trx.deleteFrom('resources').where('node', '=', node).execute();
    const gone = [...errored, ...finished].map((a) => a.uid);
    for (let i = 0; i < gone.length; i += CHUNK) {
      await trx
        .updateTable('tasks')
        .set({ status: 'FAILED', result: `node ${node} lost at ${at}`, updated_at: at })
        .where('application_uid', 'in', gone.slice(i, i + CHUNK))
        .where('status', '=', 'PENDING')
        .execute();
    }
    const byUid = (a: { uid: string }, b: { uid: string }) => (a.uid < b.uid ? -1 : 1);
    const rows = (list: { uid: string; owner: string }[], status: StateRow['status'], description: string) =>
      list.sort(byUid).map((m) => ({ application_uid: m.uid, owner: m.owner, status, description, created_at: at }));
    const result: NodeWorkEnded = { lostAt: at, requeued: moved.length, failed: errored.length, deallocated: finished.length };
    return {
      states: [...rows(moved, 'NEW', requeue), ...rows(errored, 'ERROR', failed), ...rows(finished, 'DEALLOCATED', ended)],
      result,
    };
  };

  return {
    async declareNodeLost(node, silentMs) {
      return tx(async (trx) => {
        const n = await lockNode(trx, node);
        const at = await readDbNow(trx, dialect);
        if (!n || n.lost_at !== null || n.heartbeat_at >= minus(at, silentMs)) return { finish: () => undefined };
        await trx.updateTable('nodes').set({ lost_at: at }).where('name', '=', node).execute();
        const { states, result } = await endWork(trx, node, n.heartbeat_at, at, `silent for longer than ${silentMs} ms`);
        return { states, signals: [{ kind: 'queue' }, { kind: 'nodes' }], finish: () => result };
      });
    },

    async forgetNode(node, aliveWithinMs) {
      return tx<NodeWorkEnded | ForgetRefusal>(async (trx) => {
        const n = await lockNode(trx, node);
        if (!n) return { finish: () => ({ refused: 'unknown' as const }) };
        const at = await readDbNow(trx, dialect);
        if (n.heartbeat_at >= minus(at, aliveWithinMs)) {
          return { finish: () => ({ refused: 'alive' as const, heartbeatAt: n.heartbeat_at }) };
        }
        const { states, result } = await endWork(trx, node, n.heartbeat_at, at, 'forgotten by an admin');
        await trx.deleteFrom('nodes').where('name', '=', node).execute();
        return { states, signals: [{ kind: 'queue' }, { kind: 'nodes' }], finish: () => result };
      });
    },

    async clearLost(node) {
      await db.updateTable('nodes').set({ lost_at: null }).where('name', '=', node).execute();
    },

    dbNow: () => readDbNow(db, dialect),
  };
}
