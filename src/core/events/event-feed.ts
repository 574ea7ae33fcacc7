import type { Logger } from 'pino';
import type { StateEvent } from '../../model/index.js';
import type { StateRow, Store } from '../../store/store.js';
import type { Caller } from '../core-service.js';

const REPLAY_PAGE = 1000;
const TAIL_PAGE = 1000;

interface Subscriber {
  caller: Caller;
  /** highest event id this subscriber has been given (or skipped as not visible) */
  cursor: number;
  live: boolean;
  closed: boolean;
  onEvent: (event: StateEvent) => void;
}

function visible(caller: Caller, row: StateRow): boolean {
  return caller.role === 'admin' || row.owner === caller.name;
}

export function toStateEvent(row: StateRow): StateEvent {
  return {
    id: String(row.id),
    application_uid: row.application_uid,
    status: row.status,
    description: row.description,
    created_at: row.created_at,
  };
}

/**
 * State events for subscribers: replay from the store after a given id, then live, in id order,
 * with no gap and no duplicate at the boundary.
 *
 * While anyone subscribes, the feed tails the state log: it knows `lastId` and keeps every event
 * in (ringBase, lastId] in a ring. Local commits hand their rows over directly when they are the
 * next ids; anything else (other nodes, out-of-order completions) makes it read the log after
 * `lastId` — ids are handed out in commit order, so reading after lastId never skips one.
 * A joining subscriber replays from the store until its cursor reaches the ring, then takes the
 * rest from the ring and goes live in the same synchronous step.
 */
export class EventFeed {
  readonly #store: Store;
  readonly #log: Logger;
  readonly #ringSize: number;
  #lastId: number | null = null;
  #ring: StateRow[] = [];
  #ringBase = 0;
  readonly #subs = new Set<Subscriber>();
  #pinned = false;
  #activating: Promise<void> | null = null;
  #tailing = false;
  #tailAgain = false;
  #retryTimer: NodeJS.Timeout | undefined;

  constructor(store: Store, log: Logger, ringSize = 4096) {
    this.#store = store;
    this.#log = log;
    this.#ringSize = ringSize;
  }

  get subscribers(): number {
    return this.#subs.size;
  }

  /** Signals of new state rows (local ones carry their rows). */
  onEvents(lastId: number, rows?: readonly StateRow[]): void {
    if (this.#lastId === null || lastId <= this.#lastId) return;
    if (rows && rows.length > 0 && rows[0]!.id === this.#lastId + 1 && rows.at(-1)!.id === lastId) {
      this.#deliver(rows);
      return;
    }
    this.#tail();
  }

  /** Something may have been missed (a listener reconnected): read the log. */
  resync(): void {
    if (this.#lastId !== null) this.#tail();
  }

  /**
   * Keeps the feed following the state log even with no subscriber, so that a subscription
   * without a resume id is live at once: it gets every event committed after subscribe() returns.
   */
  async pin(): Promise<void> {
    this.#pinned = true;
    await this.#activate();
  }

  subscribe(caller: Caller, afterId: number | undefined, onEvent: (event: StateEvent) => void): () => void {
    const sub: Subscriber = { caller, cursor: afterId ?? 0, live: false, closed: false, onEvent };
    this.#subs.add(sub);
    if (afterId === undefined && this.#lastId !== null) {
      // live from now: synchronous, so nothing committed after this call is missed
      sub.cursor = this.#lastId;
      sub.live = true;
    } else {
      this.#join(sub, afterId).catch((err: Error) => {
        this.#log.error({ err: err.message }, 'event replay failed');
      });
    }
    return () => {
      sub.closed = true;
      this.#subs.delete(sub);
      if (this.#subs.size === 0 && !this.#pinned) this.#deactivate();
    };
  }

  close(): void {
    this.#pinned = false;
    for (const s of this.#subs) s.closed = true;
    this.#subs.clear();
    this.#deactivate();
  }

  #deactivate(): void {
    this.#lastId = null;
    this.#ring = [];
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
  }

  async #activate(): Promise<void> {
    if (this.#lastId !== null) return;
    if (!this.#activating) {
      this.#activating = (async () => {
        const max = await this.#store.maxEventId();
        if (this.#lastId === null && (this.#subs.size > 0 || this.#pinned)) {
          this.#lastId = max;
          this.#ringBase = max;
          this.#ring = [];
        }
      })().finally(() => {
        this.#activating = null;
      });
    }
    await this.#activating;
    // rows committed while we were activating sent signals we ignored: read them
    this.#tail();
  }

  async #join(sub: Subscriber, afterId: number | undefined): Promise<void> {
    await this.#activate();
    if (sub.closed || this.#lastId === null) return;
    if (afterId === undefined) {
      sub.cursor = this.#lastId;
      sub.live = true;
      return;
    }
    const owner = sub.caller.role === 'admin' ? undefined : sub.caller.name;
    let cursor = afterId;
    for (let round = 0; round < 1_000_000; round++) {
      if (sub.closed) return;
      if (this.#lastId === null) await this.#activate();
      if (this.#lastId !== null && cursor >= this.#ringBase) {
        // synchronous: the rest from the ring, then live
        sub.cursor = cursor;
        for (const row of this.#ring) if (row.id > sub.cursor) this.#send(sub, row);
        sub.cursor = Math.max(sub.cursor, this.#lastId);
        sub.live = true;
        return;
      }
      const upTo = await this.#store.maxEventId();
      const rows = await this.#store.eventsAfter(cursor, { limit: REPLAY_PAGE, upTo, ...(owner ? { owner } : {}) });
      if (sub.closed) return;
      sub.cursor = cursor;
      for (const row of rows) this.#send(sub, row);
      cursor = rows.length < REPLAY_PAGE ? Math.max(upTo, cursor) : rows.at(-1)!.id;
    }
  }

  #send(sub: Subscriber, row: StateRow): void {
    if (row.id <= sub.cursor) return;
    sub.cursor = row.id;
    if (!visible(sub.caller, row)) return;
    try {
      sub.onEvent(toStateEvent(row));
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, 'event subscriber failed');
    }
  }

  #deliver(rows: readonly StateRow[]): void {
    for (const row of rows) {
      if (this.#lastId === null || row.id <= this.#lastId) continue;
      this.#lastId = row.id;
      this.#ring.push(row);
      for (const s of this.#subs) if (s.live) this.#send(s, row);
    }
    if (this.#ring.length > 2 * this.#ringSize) {
      const dropped = this.#ring.splice(0, this.#ring.length - this.#ringSize);
      this.#ringBase = dropped.at(-1)!.id;
    }
  }

  #tail(): void {
    if (this.#tailing) {
      this.#tailAgain = true;
      return;
    }
    this.#tailing = true;
    void (async () => {
      try {
        for (;;) {
          this.#tailAgain = false;
          const from = this.#lastId;
          if (from === null) return;
          const rows = await this.#store.eventsAfter(from, { limit: TAIL_PAGE });
          this.#deliver(rows);
          if (rows.length < TAIL_PAGE && !this.#tailAgain) return;
        }
      } catch (err) {
        this.#log.error({ err: (err as Error).message }, 'reading the state log failed; retrying');
        if (!this.#retryTimer) {
          this.#retryTimer = setTimeout(() => {
            this.#retryTimer = undefined;
            this.#tail();
          }, 1000);
          this.#retryTimer.unref();
        }
      } finally {
        this.#tailing = false;
      }
    })();
  }
}
