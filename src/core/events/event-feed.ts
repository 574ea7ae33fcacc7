import type { Logger } from 'pino';
import type { StateEvent } from '../../model/index.js';
import type { StateRow, Store } from '../../store/store.js';
import type { Caller } from '../core-service.js';

const REPLAY_PAGE = 1000;
const TAIL_PAGE = 1000;

/**
 * Back-pressure from a subscriber (an HTTP stream): after each event the feed asks `full()`; when
 * it is, the feed stops sending to that subscriber until `drained()` resolves, and takes what
 * was committed meanwhile from the store. `drained()` resolving false means the subscriber gave
 * up waiting (it has ended itself); the feed forgets it.
 */
export interface EventFlow {
  full(): boolean;
  drained(): Promise<boolean>;
}

interface Subscriber {
  caller: Caller;
  /** highest event id this subscriber has been given (or skipped as not visible) */
  cursor: number;
  /** taking events from the feed as they come (else catching up from the store and the ring) */
  live: boolean;
  closed: boolean;
  onEvent: (event: StateEvent) => void;
  flow: EventFlow | undefined;
}

function visible(caller: Caller, row: StateRow): boolean {
  return caller.role === 'admin' || row.owner === caller.id;
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
 *
 * Replay is paged and follows the subscriber's flow control: a page is read only when the
 * subscriber has room, so a replay of any length holds at most one page in memory. A live
 * subscriber that falls behind leaves the live set and catches up the same way.
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

  subscribe(caller: Caller, afterId: number | undefined, onEvent: (event: StateEvent) => void, flow?: EventFlow): () => void {
    const sub: Subscriber = { caller, cursor: afterId ?? 0, live: false, closed: false, onEvent, flow };
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
    sub.cursor = afterId;
    await this.#catchUp(sub);
  }

  /**
   * Brings a subscriber that is not live up to the feed: pages from the store while its cursor is
   * behind the ring, then the ring, then live — each step only when the subscriber has room.
   */
  async #catchUp(sub: Subscriber): Promise<void> {
    const owner = sub.caller.role === 'admin' ? undefined : sub.caller.id;
    for (;;) {
      if (sub.closed) return;
      if (sub.flow?.full()) {
        if (!(await sub.flow.drained())) {
          this.#drop(sub);
          return;
        }
        continue;
      }
      if (this.#lastId === null) await this.#activate();
      if (sub.closed) return;
      if (this.#lastId !== null && sub.cursor >= this.#ringBase) {
        // synchronous: the rest from the ring, then live (unless the subscriber fills up first)
        for (const row of this.#ring) {
          if (row.id <= sub.cursor) continue;
          this.#send(sub, row);
          if (sub.flow?.full()) break;
        }
        if (!sub.flow?.full()) {
          sub.cursor = Math.max(sub.cursor, this.#lastId);
          sub.live = true;
          return;
        }
        continue;
      }
      let rows: StateRow[];
      let upTo: number;
      try {
        upTo = await this.#store.maxEventId();
        rows = await this.#store.eventsAfter(sub.cursor, { limit: REPLAY_PAGE, upTo, ...(owner ? { owner } : {}) });
      } catch (err) {
        // the store is away (e.g. PostgreSQL restarting): try again, the subscriber keeps its place
        this.#log.error({ err: (err as Error).message }, 'event replay: reading the state log failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, 1000).unref());
        continue;
      }
      if (sub.closed) return;
      for (const row of rows) this.#send(sub, row);
      // nothing visible left up to upTo: skip the invisible rest
      if (rows.length < REPLAY_PAGE) sub.cursor = Math.max(sub.cursor, upTo);
    }
  }

  #drop(sub: Subscriber): void {
    sub.closed = true;
    this.#subs.delete(sub);
    if (this.#subs.size === 0 && !this.#pinned) this.#deactivate();
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
      for (const s of this.#subs) {
        if (!s.live) continue;
        this.#send(s, row);
        if (s.flow?.full()) {
          // fell behind: catch up from the store once it has room again
          s.live = false;
          this.#catchUp(s).catch((err: Error) => {
            this.#log.error({ err: err.message }, 'event catch-up failed');
          });
        }
      }
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
