import type { Store } from '../store/store.js';

/** setTimeout's longest delay; a longer timeout waits without a deadline */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Resolves when every promise has settled, or after `ms`, whichever comes first. */
export async function settledWithin(promises: readonly Promise<unknown>[], ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.allSettled(promises), new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

/**
 * Resolves true once `holds()` does, checking it now and again at every state change the store
 * signals (local commits, other nodes' events, a resync) — never by polling; false after
 * `timeoutMs` (Infinity: no deadline). Changes during a check lead to one more check. A
 * referenced timer keeps the process alive meanwhile (a node waiting must not end with an empty
 * event loop). A failing check rejects.
 */
export async function untilStateHolds(store: Pick<Store, 'onSignal'>, holds: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  let changed: () => void = () => {};
  const off = store.onSignal((s) => {
    if (s.kind === 'events' || s.kind === 'resync') changed();
  });
  let deadline: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((r) => {
    if (timeoutMs <= MAX_TIMER_MS) deadline = setTimeout(() => r('timeout'), Math.max(0, timeoutMs));
  });
  const keepAlive = setInterval(() => {}, 60_000);
  try {
    for (;;) {
      const next = new Promise<'changed'>((r) => (changed = () => r('changed')));
      if (await holds()) return true;
      if ((await Promise.race([next, timedOut])) === 'timeout') return false;
    }
  } finally {
    off();
    clearTimeout(deadline);
    clearInterval(keepAlive);
  }
}
